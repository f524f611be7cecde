#!/usr/bin/env bash
# ctests "test_echo_tools", "test_uring_echo_tool" and "test_uv_echo_tool" (label tools):
# echo_load against a baseline echo server (epoll_echo, uring_echo or uv_echo) on an
# ephemeral port of 127.0.0.1, from 1-byte to 1 MiB messages, plus the failure paths the
# scripts rely on.
#   tests/test_echo_tools.sh PATH/TO/{epoll,uring,uv}_echo PATH/TO/echo_load
# shellcheck disable=SC2317  # cleanup runs from a trap
set -uo pipefail
server=${1:?usage: test_echo_tools.sh ECHO_SERVER ECHO_LOAD}
load=${2:?usage: test_echo_tools.sh ECHO_SERVER ECHO_LOAD}
# shellcheck source=tests/server_lib.sh
source "$(dirname "$0")/server_lib.sh"

expect_ok() { # NAME ARGS...: echo_load must exit 0 and print ok:true
  local name=$1
  shift
  if out=$("$load" --port "$port" "$@" --json); then
    case $out in *'"ok":true'*) echo "ok: $name: $out" ;; *) fail "$name: $out" ;; esac
  else
    fail "$name exited $?: $out"
  fi
}

start_server "$server" --port 0
expect_ok "1-byte" -c 16 -s 1 -n 20000
expect_ok "64-byte" -c 64 -s 64 -n 20000
expect_ok "64 KiB" -c 16 -s 65536 -n 640
expect_ok "1 MiB" -c 16 -s 1048576 -n 64
expect_ok "1 MiB, one connection" -c 1 -s 1M -n 8
expect_ok "odd size" -c 3 -s 100003 -n 30
expect_ok "duration" -c 8 -s 512 -d 0.5

# Text output carries the same figures.
"$load" --port "$port" -c 2 -s 64 -n 100 | grep -q 'errors       0 ' ||
  fail "text output has no zero error line"

# A second server on the same port must refuse to start, with a message.
"$server" --port "$port" >/dev/null 2>"$tmp/err2" && fail "second server on port $port started"
grep -q 'cannot listen' "$tmp/err2" || fail "port in use gave no clear error: $(cat "$tmp/err2")"

# Still serving after all of that, and SIGTERM stops it cleanly.
expect_ok "after reuse attempt" -c 4 -s 64 -n 100
kill -TERM "$pid"
wait "$pid"
status=$?
pid=
[ "$status" -eq 0 ] || fail "$(basename "$server") exited $status on SIGTERM"

# Nothing listens there now: echo_load must fail, and say so.
if "$load" --port "$port" -c 2 -n 10 >/dev/null 2>"$tmp/err3"; then
  fail "echo_load succeeded with no server"
fi
grep -q 'connect' "$tmp/err3" || fail "refused connection not reported: $(cat "$tmp/err3")"

# Bad flags exit 2.
"$load" --port "$port" -s 0 2>/dev/null
[ $? -eq 2 ] || fail "echo_load -s 0 did not exit 2"
"$load" 2>/dev/null
[ $? -eq 2 ] || fail "echo_load without --port did not exit 2"
"$server" --port 70000 2>/dev/null
[ $? -eq 2 ] || fail "$(basename "$server") --port 70000 did not exit 2"

[ "$failures" -eq 0 ] && echo "test_echo_tools: all passed"
exit $((failures > 0))
