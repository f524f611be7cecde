#!/usr/bin/env bash
# Idle-connection memory, every echo server side by side in one run: what one more idle
# connection adds to the server's resident memory. Prints a Markdown table and one
# machine-readable line per server on stdout (progress goes to stderr).
#   bench/idle_memory.sh BUILD_DIR [N]      N connections, default 15000
#
# For each server (corio-echo --mode coroutines, the same with --plain-recv and with
# --multishot, corio-echo --mode callbacks, epoll_echo, uring_echo (raw liburing multishot) and uv_echo (libuv, when built)):
# start it on a free port of 127.0.0.1, echo 8192 64-byte messages on one warm-up connection
# (bench/echo_load) and close it, so that what is allocated or first touched once (a stack
# pool, the pages of a provided-buffer ring, which turns over once in 8192 messages) is not
# charged to the idle connections; read VmRSS and RssAnon from /proc/PID/status, open
# N connections with bench/idle_conns (one 64-byte echo each, then idle), read them again
# once idle_conns says "ready N", then stop the client and the server. Per connection:
# (RSS after - RSS before) / N, in bytes and in KB (1 KB = 1024 bytes). Socket buffers and
# other kernel memory are not in a process's RSS and not counted.
#
# Targets (issue 20), reported and not enforced: corio-echo in coroutine mode (both rows)
# at most 4.5 KB per idle connection and at most 1.1x epoll_echo; callback mode at most
# 0.8 KB. The exit status is 0 unless a measurement failed (a server did not start, a
# connection was not echoed or held, a number did not parse).
#
# Each server inherits this script's open-file limit, raised to the hard limit; N must fit
# under it with room to spare (N + 64), or the script says so and stops.
#
# Environment (all optional):
#   IDLE_SERVERS   which rows to run, a subset of "coroutines coroutines-plain
#                  coroutines-multishot callbacks epoll_echo uring_echo uv_echo" (default:
#                  all; tests run two)
#   CORIO_ECHO, EPOLL_ECHO, URING_ECHO, UV_ECHO, IDLE_CONNS, ECHO_LOAD   the programs
#                  (default BUILD_DIR/examples/corio-echo and BUILD_DIR/bench/{epoll_echo,...})
# A server is started as "COMMAND --port 0" and must print "listening on ADDR:PORT" as its
# first stdout line (examples/serving.h) and stop on SIGTERM, as bench/servers.sh expects.
# shellcheck disable=SC2317  # cleanup runs from a trap
set -euo pipefail

build=${1:?usage: bench/idle_memory.sh BUILD_DIR [N]}
conns=${2:-15000}
[[ $conns =~ ^[1-9][0-9]*$ ]] || { echo "idle_memory.sh: N must be a positive number, not '$conns'" >&2; exit 2; }
IDLE_SERVERS=${IDLE_SERVERS:-"coroutines coroutines-plain coroutines-multishot callbacks epoll_echo uring_echo uv_echo"}
CORIO_ECHO=${CORIO_ECHO:-$build/examples/corio-echo}
EPOLL_ECHO=${EPOLL_ECHO:-$build/bench/epoll_echo}
URING_ECHO=${URING_ECHO:-$build/bench/uring_echo}
UV_ECHO=${UV_ECHO:-$build/bench/uv_echo}
IDLE_CONNS=${IDLE_CONNS:-$build/bench/idle_conns}
ECHO_LOAD=${ECHO_LOAD:-$build/bench/echo_load}

note() { echo "idle_memory.sh: $*" >&2; }
die() { note "$*"; exit 1; }

[ -x "$IDLE_CONNS" ] || die "no idle_conns at $IDLE_CONNS (build first: cmake --build $build)"

# The servers and the client each hold N descriptors: raise the soft limit they inherit.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || ulimit -n "$hard"
soft=$(ulimit -n)
if [ "$soft" != unlimited ] && [ "$soft" -lt $((conns + 64)) ]; then
  die "$conns connections need an open-file limit above $((conns + 64)); the hard limit is $hard (raise it, e.g. in /etc/security/limits.conf, or measure fewer)"
fi

tmp=$(mktemp -d)
server_pid='' client_pid='' client_in='' client_out=''
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  # Closing thousands of connections takes a moment: up to 10 s before SIGKILL.
  for _ in $(seq 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
stop_client() { # closing its stdin lets idle_conns go; sets client_rc
  client_rc=0
  [ -n "$client_pid" ] || return 0
  exec {client_in}>&- {client_out}<&-
  wait "$client_pid" || client_rc=$?
  client_pid=
}
trap 'stop_client 2>/dev/null; stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# FILE: the port of the first complete "listening on ADDR:PORT" line in FILE; fails while
# there is none (the same parser as servers.sh and tests/server_lib.sh).
listening_port() {
  local line
  while IFS= read -r line; do # a line still being written has no '\n' yet: not read
    case $line in
      "listening on "*)
        [[ ${line##*:} =~ ^[0-9]+$ ]] || continue
        echo "${line##*:}"
        return 0
        ;;
    esac
  done <"$1"
  return 1
}

# start_server NAME COMMAND...: sets server_pid and port, or says why and fails.
start_server() {
  local name=$1
  shift
  "$@" --port 0 >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  port=
  for _ in $(seq 200); do
    port=$(listening_port "$tmp/server.out") && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  note "$name did not print its listening line (command: $*)"
  sed 's/^/  /' "$tmp/server.err" >&2
  stop_server
  return 1
}

# status_kb PID FIELD: a "FIELD: N kB" line of /proc/PID/status, as N.
status_kb() {
  local v
  v=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  [[ $v =~ ^[0-9]+$ ]] || return 1
  echo "$v"
}

# The server's own open-file limit (it may lower it, or it may not inherit ours).
fd_limit() { awk '/^Max open files/ { print $4 }' "/proc/$1/limits"; }

# run_client N: starts idle_conns against $port with N connections and waits for its
# "ready N" line; the client holds them until stop_client. Fails, saying why, without it.
mkfifo "$tmp/client.in" "$tmp/client.out"
run_client() {
  local n=$1 line=
  "$IDLE_CONNS" --port "$port" -n "$n" <"$tmp/client.in" >"$tmp/client.out" 2>"$tmp/client.err" &
  client_pid=$!
  # The client's redirections open the FIFOs in this order, each waiting for its other end.
  exec {client_in}>"$tmp/client.in" {client_out}<"$tmp/client.out"
  # idle_conns gives up by itself after its own timeout (60 s): no timer is needed here.
  IFS= read -r line <&"$client_out" || true
  if [ "$line" != "ready $n" ]; then
    stop_client
    note "idle_conns -n $n did not report 'ready $n' (got '${line}', exit $client_rc):"
    sed 's/^/  /' "$tmp/client.err" >&2
    return 1
  fi
}

# Reads VmRSS until two readings 0.1 s apart agree (at most 2 s): the server may still be
# arming the last connections' receives after their echo reached the client.
settled_kb() {
  local a b
  a=$(status_kb "$1" "$2") || return 1
  for _ in $(seq 20); do
    sleep 0.1
    b=$(status_kb "$1" "$2") || return 1
    [ "$a" != "$b" ] || break
    a=$b
  done
  echo "$a"
}

# One warm-up connection that echoes WARM_MESSAGES messages, then closes. Servers that recv
# into a ring of provided buffers (uring_echo: 4096, corio-echo: 1024) take the next buffer
# for every message and first touch a page of each as the ring turns over; turning it over
# once before the first reading leaves in the figure only what each connection adds (the
# ring is a fixed cost). One connection only: connections opened and closed here would leave
# freed heap that the measured ones reuse. Without echo_load, one message by idle_conns.
WARM_MESSAGES=8192
warm_up() {
  if [ -x "$ECHO_LOAD" ]; then
    "$ECHO_LOAD" --port "$port" -c 1 -s 64 -n "$WARM_MESSAGES" --json >/dev/null 2>"$tmp/warm.err" &&
      return 0
    note "echo_load's warm-up failed:"
    sed 's/^/  /' "$tmp/warm.err" >&2
    return 1
  fi
  run_client 1 && stop_client
}

declare -A r_before r_after a_before a_after r_bytes a_bytes r_fail
names=()
# measure NAME COMMAND...: one server's row, recorded in the arrays above.
measure() {
  local name=$1
  shift
  names+=("$name")
  note "$name: $conns idle connections"
  if ! start_server "$name" "$@"; then
    r_fail[$name]="server did not start"
    return
  fi
  local lim
  lim=$(fd_limit "$server_pid")
  if [ "$lim" != unlimited ] && [ "$lim" -lt $((conns + 16)) ]; then
    note "$name: its open-file limit is $lim, below the $conns connections (raise ulimit -n)"
    r_fail[$name]="open-file limit $lim"
    stop_server
    return
  fi
  if ! warm_up; then
    r_fail[$name]="warm-up connection failed"
    stop_server
    return
  fi
  local rb ab ra aa
  if ! rb=$(settled_kb "$server_pid" VmRSS) || ! ab=$(status_kb "$server_pid" RssAnon); then
    r_fail[$name]="no VmRSS/RssAnon in /proc/$server_pid/status"
    stop_server
    return
  fi
  if ! run_client "$conns"; then
    r_fail[$name]="not all connections echoed"
    stop_server
    return
  fi
  if ! ra=$(settled_kb "$server_pid" VmRSS) || ! aa=$(status_kb "$server_pid" RssAnon); then
    r_fail[$name]="no VmRSS/RssAnon in /proc/$server_pid/status"
  fi
  stop_client
  if [ "$client_rc" -ne 0 ]; then
    note "$name: idle_conns exited $client_rc while holding the connections:"
    sed 's/^/  /' "$tmp/client.err" >&2
    r_fail[$name]="connections not held (idle_conns exit $client_rc)"
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    note "$name died during the run:"
    sed 's/^/  /' "$tmp/server.err" >&2
    r_fail[$name]="server died"
  fi
  stop_server
  [ -z "${r_fail[$name]:-}" ] || return 0
  r_before[$name]=$rb r_after[$name]=$ra a_before[$name]=$ab a_after[$name]=$aa
  r_bytes[$name]=$(( (ra - rb) * 1024 / conns ))
  a_bytes[$name]=$(( (aa - ab) * 1024 / conns ))
}

# A row is run when IDLE_SERVERS names it and its program exists (a missing uv_echo is
# noted, as in servers.sh: it is built only with libuv1-dev).
wanted() { [[ " $IDLE_SERVERS " == *" $1 "* ]]; }
have() {
  [ -x "$2" ] && return 0
  note "$1: skipped, no program at '$2'"
  skipped+=("$1")
  return 1
}
skipped=()
corio=()
read -ra corio <<<"$CORIO_ECHO"
for row in $IDLE_SERVERS; do
  case $row in
    coroutines | coroutines-plain | coroutines-multishot | callbacks | epoll_echo | uring_echo | uv_echo) ;;
    *) die "unknown server '$row' in IDLE_SERVERS (known: coroutines coroutines-plain coroutines-multishot callbacks epoll_echo uring_echo uv_echo)" ;;
  esac
done
if wanted coroutines && have "corio-echo (coroutines)" "${corio[0]}"; then
  measure "corio-echo (coroutines)" "${corio[@]}" --mode coroutines
fi
if wanted coroutines-plain && have "corio-echo (coroutines, plain recv)" "${corio[0]}"; then
  measure "corio-echo (coroutines, plain recv)" "${corio[@]}" --mode coroutines --plain-recv
fi
if wanted coroutines-multishot && have "corio-echo (coroutines, multishot)" "${corio[0]}"; then
  measure "corio-echo (coroutines, multishot)" "${corio[@]}" --mode coroutines --multishot
fi
if wanted callbacks && have "corio-echo (callbacks)" "${corio[0]}"; then
  measure "corio-echo (callbacks)" "${corio[@]}" --mode callbacks
fi
if wanted epoll_echo && have epoll_echo "$EPOLL_ECHO"; then measure epoll_echo "$EPOLL_ECHO"; fi
if wanted uring_echo && have uring_echo "$URING_ECHO"; then measure uring_echo "$URING_ECHO"; fi
if wanted uv_echo && have uv_echo "$UV_ECHO"; then measure uv_echo "$UV_ECHO"; fi

kb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1024 }'; }
# target NAME KB RATIO: "TARGET<TAB>pass|fail" for the rows with a target, "-<TAB>-" otherwise.
target() {
  case $1 in
    "corio-echo (coroutines, plain recv)") printf -- '-\t-\n' ;; # the stack buffer's page, by choice
    "corio-echo (coroutines"*)
      awk -v k="$2" -v r="$3" 'BEGIN { ok = k <= 4.5 && (r == "n/a" || r <= 1.1)
        printf "<= 4.5 KB, <= 1.1x epoll\t%s\n", ok ? "pass" : "fail" }' ;;
    "corio-echo (callbacks)")
      awk -v k="$2" 'BEGIN { printf "<= 0.8 KB\t%s\n", k <= 0.8 ? "pass" : "fail" }' ;;
    *) printf -- '-\t-\n' ;;
  esac
}

failed=0
echo
echo "## Idle connections: server memory per connection, $conns connections"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r). Each server fresh, one warm-up"
echo "connection first ($WARM_MESSAGES messages: a provided-buffer ring turns over once), then $conns"
echo "connections, each echoing one 64-byte message and then idle."
echo "KB per connection: (VmRSS after - VmRSS before) / $conns, 1 KB = 1024 bytes; anon: the"
echo "same for RssAnon. Kernel memory (socket buffers, epoll and io_uring state) is not in RSS."
echo
echo "| server | VmRSS before KB | VmRSS after KB | KB per idle conn | anon KB per conn | ratio to epoll_echo | target | result |"
echo "|---|---:|---:|---:|---:|---:|---|---|"
machine=()
for name in "${names[@]}"; do
  if [ -n "${r_fail[$name]:-}" ]; then
    echo "| $name | | | FAILED: ${r_fail[$name]} | | | | |"
    machine+=("idle_memory server=\"$name\" conns=$conns status=failed reason=\"${r_fail[$name]}\"")
    failed=1
    continue
  fi
  per=$(kb "${r_bytes[$name]}") anon=$(kb "${a_bytes[$name]}") ratio=n/a
  if [ -n "${r_bytes[epoll_echo]:-}" ] && [ "${r_bytes[epoll_echo]}" -gt 0 ]; then
    ratio=$(awk -v a="${r_bytes[$name]}" -v b="${r_bytes[epoll_echo]}" 'BEGIN { printf "%.2f", a / b }')
  fi
  IFS=$'\t' read -r goal result < <(target "$name" "$per" "$ratio")
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "${r_before[$name]}" \
    "${r_after[$name]}" "$per" "$anon" "$ratio" "$goal" "$result"
  machine+=("idle_memory server=\"$name\" conns=$conns status=ok rss_before_kb=${r_before[$name]} rss_after_kb=${r_after[$name]} anon_before_kb=${a_before[$name]} anon_after_kb=${a_after[$name]} bytes_per_conn=${r_bytes[$name]} anon_bytes_per_conn=${a_bytes[$name]} kb_per_conn=$per ratio_epoll=$ratio target=$result")
done
for name in "${skipped[@]}"; do
  echo "| $name | | | skipped: not built | | | | |"
  machine+=("idle_memory server=\"$name\" conns=$conns status=skipped")
done
echo
echo '```'
printf '%s\n' "${machine[@]}"
echo '```'
exit "$failed"
