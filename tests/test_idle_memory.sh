#!/usr/bin/env bash
# ctest "test_idle_memory" (label tools): the idle-connection memory measurement works end
# to end with a few connections. bench/idle_conns holds N echoed connections (its "ready N"
# line, the server's descriptors while held, its failure when nothing listens), and
# bench/idle_memory.sh measures corio-echo (coroutines) and epoll_echo, printing figures that
# parse. No memory target is checked: sizes belong to the benchmark, not to a test.
#   tests/test_idle_memory.sh CORIO_ECHO EPOLL_ECHO IDLE_CONNS
# shellcheck disable=SC2317  # cleanup runs from a trap
set -uo pipefail
corio_echo=${1:?usage: test_idle_memory.sh CORIO_ECHO EPOLL_ECHO IDLE_CONNS}
epoll_echo=${2:?usage: test_idle_memory.sh CORIO_ECHO EPOLL_ECHO IDLE_CONNS}
idle_conns=${3:?usage: test_idle_memory.sh CORIO_ECHO EPOLL_ECHO IDLE_CONNS}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/server_lib.sh
source "$(dirname "$0")/server_lib.sh"
n=200

# idle_conns against epoll_echo: "ready N" once all N are echoed, and all N still open on
# the server's side while the client holds them (its stdin, a FIFO, still open).
start_server "$epoll_echo" --port 0
mkfifo "$tmp/in" "$tmp/out"
"$idle_conns" --port "$port" -n "$n" <"$tmp/in" >"$tmp/out" 2>"$tmp/client.err" &
client=$!
exec {cin}>"$tmp/in" {cout}<"$tmp/out"
IFS= read -r line <&"$cout"
[ "$line" = "ready $n" ] || fail "idle_conns printed '$line', not 'ready $n': $(cat "$tmp/client.err")"
# The server's descriptors: the N connections, its listener, epoll and the standard ones.
fds=$(find "/proc/$pid/fd" -mindepth 1 | wc -l)
[ "$fds" -ge "$n" ] || fail "epoll_echo holds $fds descriptors while $n connections are held"
exec {cin}>&- {cout}<&-
wait "$client" || fail "idle_conns exited $? once its stdin closed: $(cat "$tmp/client.err")"
kill -TERM "$pid"
wait "$pid" || fail "epoll_echo exited $? on SIGTERM"
pid=

# Nothing listens there now: idle_conns must fail, and say where.
if "$idle_conns" --port "$port" -n 2 </dev/null >/dev/null 2>"$tmp/refused"; then
  fail "idle_conns succeeded with no server"
fi
grep -q "Connection refused" "$tmp/refused" || fail "refused connect not reported: $(cat "$tmp/refused")"
"$idle_conns" -n 2 </dev/null 2>/dev/null
[ $? -eq 2 ] || fail "idle_conns without --port did not exit 2"

# The script, two servers: each row measured (status=ok) with figures that parse.
if IDLE_SERVERS="coroutines epoll_echo" CORIO_ECHO="$corio_echo" EPOLL_ECHO="$epoll_echo" \
  IDLE_CONNS="$idle_conns" bash "$here/../bench/idle_memory.sh" "$tmp" "$n" >"$tmp/table" \
  2>"$tmp/script.err"; then
  for name in "corio-echo (coroutines)" epoll_echo; do
    row=$(grep -F "idle_memory server=\"$name\" " "$tmp/table")
    [[ $row == *" conns=$n status=ok "* ]] || fail "$name: no measured row: $row"
    for field in rss_before_kb rss_after_kb anon_before_kb anon_after_kb bytes_per_conn; do
      [[ $row =~ \ $field=-?[0-9]+( |$) ]] || fail "$name: $field does not parse: $row"
    done
    [[ $row =~ \ kb_per_conn=-?[0-9]+\.[0-9]+( |$) ]] || fail "$name: kb_per_conn does not parse: $row"
  done
  grep -q '^| corio-echo (coroutines) |' "$tmp/table" || fail "no table row for corio-echo"
else
  fail "idle_memory.sh exited $?: $(cat "$tmp/script.err")"
fi

[ "$failures" -eq 0 ] && echo "test_idle_memory: all passed"
exit $((failures > 0))
