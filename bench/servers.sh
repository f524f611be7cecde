#!/usr/bin/env bash
# Server benchmarks: corio's servers against their baselines, in one run on one machine,
# server pinned to CPU 0 and load generator to CPU 1. Prints Markdown tables on stdout
# (progress goes to stderr) and exits non-zero when any run failed.
#   bench/servers.sh [BUILD_DIR] [SECTION...]      sections: echo (default: all)
#
# echo: CORIO_ECHO vs epoll_echo under echo_load at CONNS x SIZES, reporting messages/s, p99
# latency, the server's CPU seconds (utime+stime from /proc/PID/stat around the run), messages
# per server CPU-second, and the ratios corio/epoll.
#
# Environment (all optional):
#   DURATION=5            seconds per run
#   CONNS="1 64 512"      connection counts
#   SIZES="64 4096"       message sizes in bytes
#   ECHO_LOAD, EPOLL_ECHO default to BUILD_DIR/bench/{echo_load,epoll_echo}
#   CORIO_ECHO            corio's echo server command (default BUILD_DIR/examples/corio-echo);
#                         its rows are skipped, with a message, when it does not exist
# A server is started as "COMMAND --port 0" (COMMAND may carry its own flags) and must print
# "port N" as its first stdout line, listen on 127.0.0.1, and stop on SIGTERM.
# shellcheck disable=SC2317  # functions are called indirectly (traps, section_NAME)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=${1:-}
if [ -z "$build" ]; then
  for d in "$root/build-bench" "$root/build"; do [ -x "$d/bench/echo_load" ] && build=$d && break; done
  build=${build:-$root/build}
fi
[ $# -gt 0 ] && shift
sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(echo)

DURATION=${DURATION:-5}
CONNS=${CONNS:-"1 64 512"}
SIZES=${SIZES:-"64 4096"}
ECHO_LOAD=${ECHO_LOAD:-$build/bench/echo_load}
EPOLL_ECHO=${EPOLL_ECHO:-$build/bench/epoll_echo}
CORIO_ECHO=${CORIO_ECHO:-$build/examples/corio-echo}

die() { echo "servers.sh: $*" >&2; exit 1; }
note() { echo "servers.sh: $*" >&2; }

tmp=$(mktemp -d)
server_pid=
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 40); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
trap 'stop_server; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

# Pinning: server on CPU 0, load on CPU 1, when there are two CPUs and taskset.
pin_server=() pin_load=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 0) pin_load=(taskset -c 1)
else
  note "fewer than 2 CPUs or no taskset: running unpinned, figures are less meaningful"
fi
clk_tck=$(getconf CLK_TCK)

# start_server NAME COMMAND...: starts it pinned, waits for "port N"; sets server_pid, port.
start_server() {
  local name=$1
  shift
  "${pin_server[@]}" "$@" --port 0 >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  port=
  for _ in $(seq 200); do
    port=$(sed -n '1s/^port \([0-9][0-9]*\)$/\1/p' "$tmp/server.out")
    [ -n "$port" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  note "$name did not print 'port N' (command: $*)"
  sed 's/^/  /' "$tmp/server.err" >&2
  stop_server
  return 1
}

# CPU ticks (utime + stime) of a process; the comm field may hold spaces, so cut after ')'.
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat") || return 1
  stat=${stat##*) }
  echo "$stat" | awk '{ print $12 + $13 }'
}

# Busy ticks of CPU 0 (user+nice+system+irq+softirq): the server's CPU plus the softirq work
# (loopback TCP) that the kernel does on that CPU and does not charge to the process.
cpu0_busy() { awk '$1 == "cpu0" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

json_get() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

header() {
  echo "# corio server benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
  echo "- kernel: $(uname -r)"
  if [ ${#pin_server[@]} -gt 0 ]; then
    echo "- server pinned to CPU 0, load generator to CPU 1; ${DURATION} s per run"
  else
    echo "- unpinned; ${DURATION} s per run"
  fi
}

failed=0

# ---- echo -------------------------------------------------------------------------------
# run_echo NAME CONNS SIZE COMMAND...: one fresh server, one echo_load run; prints a table row
# and records msgs/s, p99 and msgs per CPU-second in r_rate/r_p99/r_eff[NAME,CONNS,SIZE].
declare -A r_rate r_p99 r_eff
run_echo() {
  local name=$1 conns=$2 size=$3 key="$1,$2,$3"
  shift 3
  note "echo: $name, $conns connections, $size-byte messages, ${DURATION} s"
  if ! start_server "$name" "$@"; then
    echo "| $conns | $size | $name | FAILED: server did not start | | | | | |"
    failed=1
    return
  fi
  local t0 t1 b0 b1 out rc=0
  t0=$(cpu_ticks "$server_pid") b0=$(cpu0_busy)
  out=$("${pin_load[@]}" "$ECHO_LOAD" --port "$port" -c "$conns" -s "$size" -d "$DURATION" \
        --json 2>"$tmp/load.err") || rc=$?
  t1=$(cpu_ticks "$server_pid") || t1=$t0
  b1=$(cpu0_busy)
  if ! kill -0 "$server_pid" 2>/dev/null; then
    note "$name died during the run:"; sed 's/^/  /' "$tmp/server.err" >&2; rc=1
  fi
  stop_server
  if [ "$rc" -ne 0 ] || [ -z "$out" ]; then
    note "echo_load failed against $name (exit $rc):"; sed 's/^/  /' "$tmp/load.err" >&2
    echo "| $conns | $size | $name | FAILED (see stderr) | | | | | |"
    failed=1
    return
  fi
  local rate p99 msgs lcpu secs scpu eff busy=-
  rate=$(json_get "$out" messages_per_sec) p99=$(json_get "$out" p99_us)
  msgs=$(json_get "$out" messages) lcpu=$(json_get "$out" client_cpu_sec)
  secs=$(json_get "$out" seconds)
  scpu=$(calc '%.2f' "($t1 - $t0) / $clk_tck")
  eff=$(calc '%.0f' "($t1 > $t0) ? $msgs / (($t1 - $t0) / $clk_tck) : 0")
  [ ${#pin_server[@]} -eq 0 ] || busy=$(calc '%.2f' "($b1 - $b0) / $clk_tck")
  r_rate[$key]=$rate r_p99[$key]=$p99 r_eff[$key]=$eff
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$conns" "$size" "$name" \
    "$(calc '%.0f' "$rate")" "$p99" "$scpu" "$busy" "$eff" "$(calc '%.0f%%' "100 * $lcpu / $secs")"
}

ratio() { # A B: A/B to two decimals, "n/a" when either is missing or B is zero
  if [ -z "${1:-}" ] || [ -z "${2:-}" ]; then echo n/a; return; fi
  awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

section_echo() {
  [ -x "$ECHO_LOAD" ] || die "no echo_load at $ECHO_LOAD (build first: cmake --build $build)"
  [ -x "$EPOLL_ECHO" ] || die "no epoll_echo at $EPOLL_ECHO (build first: cmake --build $build)"
  local corio=()
  read -ra corio <<<"$CORIO_ECHO"
  if [ ${#corio[@]} -eq 0 ] || [ ! -x "${corio[0]}" ]; then
    note "corio-echo not found at '${CORIO_ECHO}': skipping its rows (set CORIO_ECHO=path)"
    echo
    echo "corio-echo not found at \`${CORIO_ECHO}\`: only the epoll baseline was run."
    corio=()
  fi
  echo
  echo "## Echo: ping-pong, one message in flight per connection"
  echo
  echo "server CPU: the process's utime+stime; CPU 0 busy adds the softirq (loopback TCP) work done"
  echo "on the server's CPU, which the kernel charges to no process. load CPU: echo_load's own"
  echo "CPU use; near 100% means the client, not the server, was the limit."
  echo
  echo "| conns | bytes | server | msgs/s | p99 µs | server CPU s | CPU 0 busy s | msgs per server CPU-s | load CPU |"
  echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|"
  local c s
  for c in $CONNS; do
    for s in $SIZES; do
      if [ ${#corio[@]} -gt 0 ]; then run_echo corio-echo "$c" "$s" "${corio[@]}"; fi
      run_echo epoll_echo "$c" "$s" "$EPOLL_ECHO"
    done
  done
  [ ${#corio[@]} -gt 0 ] || return 0
  echo
  echo "Ratios corio-echo / epoll_echo (msgs/s and msgs per CPU-s: higher is better; p99: lower is better)"
  echo
  echo "| conns | bytes | msgs/s | p99 | msgs per server CPU-s |"
  echo "|---:|---:|---:|---:|---:|"
  for c in $CONNS; do
    for s in $SIZES; do
      local a="corio-echo,$c,$s" b="epoll_echo,$c,$s"
      printf '| %s | %s | %s | %s | %s |\n' "$c" "$s" \
        "$(ratio "${r_rate[$a]:-}" "${r_rate[$b]:-}")" "$(ratio "${r_p99[$a]:-}" "${r_p99[$b]:-}")" \
        "$(ratio "${r_eff[$a]:-}" "${r_eff[$b]:-}")"
    done
  done
}

# ---- main -------------------------------------------------------------------------------
# More sections (http: corio-httpd vs nginx under wrk) plug in as section_NAME functions.
for sec in "${sections[@]}"; do
  declare -F "section_$sec" >/dev/null || die "unknown section '$sec' (known: echo)"
done
header
for sec in "${sections[@]}"; do "section_$sec"; done
exit "$failed"
