#!/usr/bin/env bash
# Server benchmarks: corio's servers against their baselines, in one run on one machine,
# server pinned to CPU 0 and load generator to CPU 1. Prints Markdown tables on stdout
# (progress goes to stderr) and exits non-zero when any run failed.
#   bench/servers.sh [BUILD_DIR] [SECTION...]  sections: echo, http, fetch, tls, rate, idle
#                                              (default: all)
#
# echo: CORIO_ECHO, the same with CORIO_EPOLL_ENV in its environment ("corio-echo (epoll)":
# corio's epoll backend), epoll_echo, uring_echo and uv_echo (libuv) under echo_load at CONNS x
# SIZES, reporting messages/s, p99 latency, the server's CPU seconds (utime+stime from
# /proc/PID/stat around the run), messages per server CPU-second, and the ratios to epoll_echo
# and to uv_echo (libuv).
#
# http: CORIO_HTTPD vs nginx (1 worker, `return 200 "hello\n"`, access_log off, config in a
# temp dir, listening on a free port of 127.0.0.1) on GET /hello with `wrk -t1 --latency` at
# HTTP_CONNS keep-alive connections, reporting requests/s, p99 latency, server CPU seconds
# (nginx: master + worker), requests per server CPU-second, and the ratios corio/nginx;
# corio-httpd runs twice, the second time with CORIO_EPOLL_ENV ("corio-httpd (epoll)").
# Skipped, with a message, when wrk or nginx is missing (`.ci/deps bench` installs them).
#
# fetch: corio-fetch vs wrk -t1 as load generators against the same nginx (1 worker, CPU 0),
# each client alone on CPU 1, at FETCH_CONNS connections: requests/s, p99, client CPU seconds
# (utime+stime), requests per client CPU-second, and the ratios corio-fetch/wrk. Skipped, with
# a message, when wrk or nginx is missing.
#
# tls: the same over HTTPS, nginx serving TLS (1 worker, CPU 0, `ssl_protocols TLSv1.2
# TLSv1.3`, an EC P-256 certificate from a CA made for the run with the openssl command in
# the temp dir; corio-fetch trusts that CA with --cacert, wrk does not verify). Three tables:
#  - clients, keep-alive: corio-fetch vs wrk -t1 at TLS_CONNS, columns as in fetch; client
#    and server CPU seconds side by side say which side saturated;
#  - handshakes, a new connection per request (`Connection: close`) at TLS_HANDSHAKE_CONNS:
#    full handshakes against an nginx that resumes nothing (ssl_session_cache off,
#    ssl_session_tickets off), corio-fetch --no-keepalive --no-resume, with --cacert and
#    with -k (wrk verifies no certificate: -k is the like-for-like row), vs wrk; then resumed
#    ones against nginx's defaults (session tickets), corio-fetch --no-keepalive vs wrk, which
#    resumes too (it keeps its SSL object's session across reconnections). A "resumed"
#    column counts nginx's $ssl_session_reused over the measured requests, so the table shows
#    what each client did;
#  - servers: corio-httpd HTTPS (--cert, --key, --tls-port) vs nginx HTTPS under wrk -t1 at
#    TLS_CONNS, columns as in http; skipped, with a message, when `corio-httpd --help` does
#    not mention --tls-port.
# Skipped, with a message, when wrk, nginx or openssl is missing.
#
# rate: open loop, corio-fetch --rate R vs h2load --h1 --rps R/conns (nghttp2-client) at the
# same total rate R and RATE_CONNS connections against nginx (1 worker, CPU 0), each client
# alone on CPU 1: requests, achieved req/s, client CPU seconds (utime+stime), client CPU per
# request and its ratio corio-fetch/h2load, and each one's p99 (h2load's from its
# --log-file). Skipped, with a message, when h2load or nginx is missing.
#
# idle: memory per idle connection (bench/idle_memory.sh, whose header has the method):
# corio-echo in both modes (coroutines with and without --multishot), epoll_echo, uring_echo
# and uv_echo, each holding IDLE_N connections that echoed one 64-byte message, with the
# ratio to epoll_echo and the issue-20 targets (coroutines <= 4.5 KB and <= 1.1x epoll_echo,
# callbacks <= 0.8 KB), reported, not enforced. Unpinned: memory does not depend on CPUs.
#
# Environment (all optional):
#   DURATION=5            seconds per run
#   CONNS="1 64 512"      connection counts
#   SIZES="64 4096"       message sizes in bytes
#   ECHO_LOAD, EPOLL_ECHO, URING_ECHO default to BUILD_DIR/bench/{echo_load,epoll_echo,uring_echo}
#                         (uring_echo, a hand-written liburing multishot server, is a second
#                         reference: what io_uring itself gains over epoll on this machine)
#   UV_ECHO               the libuv echo server (default BUILD_DIR/bench/uv_echo, built when
#                         libuv1-dev is installed); its rows are skipped, with a message, without it
#   CORIO_ECHO            corio's echo server command (default BUILD_DIR/examples/corio-echo);
#                         its rows are skipped, with a message, when it does not exist
#   CORIO_EPOLL_ENV="CORIO_BACKEND=epoll"  the environment of the "(epoll)" rows of corio-echo
#                         and corio-httpd (empty: no such rows). A row whose server holds an
#                         io_uring and no epoll instance is flagged under its table: that build
#                         ignores the variable and the row measured io_uring
#   HTTP_CONNS="64 256"   wrk connection counts (http)
#   CORIO_HTTPD           corio's HTTP server command (default BUILD_DIR/examples/corio-httpd)
#   WRK, NGINX            the load generator and the baseline (default: found on PATH)
#   FETCH_CONNS="64 256 2000 10000"  connection counts (fetch)
#   CORIO_FETCH           corio's HTTP client (default BUILD_DIR/examples/corio-fetch)
#   TLS_CONNS="64 256"    connection counts, keep-alive (tls)
#   TLS_HANDSHAKE_CONNS="64"  connection counts, a connection per request (tls)
#   RATE_RATES="2000 20000"   total request rates (rate); RATE_CONNS=64 connections
#   H2LOAD                the open-loop baseline (default: found on PATH)
#   IDLE_N=15000          idle connections per server (idle); IDLE_CONNS, the client, defaults
#                         to BUILD_DIR/bench/idle_conns
# A server is started as "COMMAND --port 0" (COMMAND may carry its own flags) and must print
# "listening on [SCHEME://]127.0.0.1:PORT" as its first stdout line (examples/serving.h),
# listen on 127.0.0.1, and stop on SIGTERM; corio-httpd's HTTPS rows add "--cert FILE --key
# FILE --tls-port 0" and read the port of its "listening on https://" line.
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
[ ${#sections[@]} -gt 0 ] || sections=(echo http fetch tls rate idle)

DURATION=${DURATION:-5}
CONNS=${CONNS:-"1 64 512"}
SIZES=${SIZES:-"64 4096"}
ECHO_LOAD=${ECHO_LOAD:-$build/bench/echo_load}
EPOLL_ECHO=${EPOLL_ECHO:-$build/bench/epoll_echo}
URING_ECHO=${URING_ECHO:-$build/bench/uring_echo}
UV_ECHO=${UV_ECHO:-$build/bench/uv_echo}
CORIO_EPOLL_ENV=${CORIO_EPOLL_ENV-CORIO_BACKEND=epoll}
CORIO_ECHO=${CORIO_ECHO:-$build/examples/corio-echo}
HTTP_CONNS=${HTTP_CONNS:-"64 256"}
CORIO_HTTPD=${CORIO_HTTPD:-$build/examples/corio-httpd}
FETCH_CONNS=${FETCH_CONNS:-"64 256 2000 10000"}
CORIO_FETCH=${CORIO_FETCH:-$build/examples/corio-fetch}
TLS_CONNS=${TLS_CONNS:-"64 256"}
TLS_HANDSHAKE_CONNS=${TLS_HANDSHAKE_CONNS:-"64"}
RATE_RATES=${RATE_RATES:-"2000 20000"}
RATE_CONNS=${RATE_CONNS:-64}
IDLE_N=${IDLE_N:-15000}

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

# FILE [SCHEME]: prints the port of the first complete listening line in FILE,
# "listening on [SCHEME://]ADDR:PORT" (examples/serving.h), or of the first for SCHEME;
# fails while there is none.
listening_port() {
  local line
  while IFS= read -r line; do # a line still being written has no '\n' yet: not read
    case $line in
      "listening on ${2:+$2://}"*)
        [[ ${line##*:} =~ ^[0-9]+$ ]] || continue
        echo "${line##*:}"
        return 0
        ;;
    esac
  done <"$1"
  return 1
}

# start_server NAME COMMAND...: starts it pinned, waits for its listening line; sets
# server_pid, port. start_server_on SCHEME NAME COMMAND...: the same, port from the
# "listening on SCHEME://" line (a server with several listeners).
start_server() { start_server_on "" "$@"; }
start_server_on() {
  local scheme=$1 name=$2
  shift 2
  "${pin_server[@]}" "$@" --port 0 >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  port=
  for _ in $(seq 200); do
    port=$(listening_port "$tmp/server.out" "$scheme") && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  note "$name did not print its listening line (command: $*)"
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

# The "(epoll)" rows: CORIO_EPOLL_ENV as an env(1) prefix, and a check that the server took
# it. check_epoll NAME (the server just started): records NAME in not_epoll when the server
# holds an io_uring instance and no epoll one, i.e. it ran on io_uring after all.
epoll_env=()
read -ra epoll_env <<<"$CORIO_EPOLL_ENV"
declare -A not_epoll
check_epoll() {
  local f l uring=0 epoll=0
  for f in "/proc/$server_pid/fd/"*; do
    l=$(readlink "$f" 2>/dev/null) || continue
    case $l in
      "anon_inode:[io_uring]") uring=1 ;;
      "anon_inode:[eventpoll]") epoll=1 ;;
    esac
  done
  if [ "$uring" = 1 ] && [ "$epoll" = 0 ] && [ -z "${not_epoll[$1]:-}" ]; then
    note "$1 holds an io_uring and no epoll instance: ${CORIO_EPOLL_ENV} had no effect"
    not_epoll[$1]=1
  fi
  return 0
}
# epoll_notes NAME...: a line under a table for each NAME check_epoll flagged.
epoll_notes() {
  local n
  for n in "$@"; do
    [ -z "${not_epoll[$n]:-}" ] || {
      echo
      echo "Note: $n held an io_uring and no epoll instance: this build ignores \`${CORIO_EPOLL_ENV}\`,"
      echo "so its rows measured the io_uring backend."
    }
  done
  return 0
}

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
# A NAME ending in "(epoll)" gets check_epoll.
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
  [[ $name != *"(epoll)" ]] || check_epoll "$name"
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
    echo "corio-echo not found at \`${CORIO_ECHO}\`: only the baselines were run."
    corio=()
  fi
  local uv=1
  if [ ! -x "$UV_ECHO" ]; then
    note "uv_echo not found at '${UV_ECHO}': skipping the libuv rows (install libuv1-dev and rebuild, or set UV_ECHO=path)"
    echo
    echo "uv_echo not found at \`${UV_ECHO}\`: the libuv baseline was not run (\`.ci/deps bench\` installs libuv1-dev)."
    uv=
  fi
  echo
  echo "## Echo: ping-pong, one message in flight per connection"
  echo
  echo "server CPU: the process's utime+stime; CPU 0 busy adds the softirq (loopback TCP) work done"
  echo "on the server's CPU, which the kernel charges to no process. load CPU: echo_load's own"
  echo "CPU use; near 100% means the client, not the server, was the limit. corio-echo (plain recv):"
  echo "coroutine mode with --plain-recv (a stack buffer, no ring). corio-echo (epoll):"
  echo "corio-echo with \`${CORIO_EPOLL_ENV}\` in its environment; uv_echo: the libuv baseline."
  echo
  echo "| conns | bytes | server | msgs/s | p99 µs | server CPU s | CPU 0 busy s | msgs per server CPU-s | load CPU |"
  echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|"
  local c s
  for c in $CONNS; do
    for s in $SIZES; do
      if [ ${#corio[@]} -gt 0 ]; then
        run_echo corio-echo "$c" "$s" "${corio[@]}"
        run_echo "corio-echo (plain recv)" "$c" "$s" "${corio[@]}" --plain-recv
        if [ ${#epoll_env[@]} -gt 0 ]; then
          run_echo "corio-echo (epoll)" "$c" "$s" env "${epoll_env[@]}" "${corio[@]}"
        fi
      fi
      run_echo epoll_echo "$c" "$s" "$EPOLL_ECHO"
      if [ -x "$URING_ECHO" ]; then run_echo uring_echo "$c" "$s" "$URING_ECHO"; fi
      if [ -n "$uv" ]; then run_echo uv_echo "$c" "$s" "$UV_ECHO"; fi
    done
  done
  epoll_notes "corio-echo (epoll)"
  echo_ratios epoll_echo corio-echo "corio-echo (plain recv)" "corio-echo (epoll)" uring_echo uv_echo
  [ -z "$uv" ] || [ ${#corio[@]} -eq 0 ] || echo_ratios uv_echo "corio-echo (epoll)" corio-echo
}

# echo_ratios BASE NAME...: the table of each NAME's ratios to BASE, point by point (rows
# with no figures for NAME are left out).
echo_ratios() {
  local base=$1 c s name
  shift
  echo
  if [ "$base" = uv_echo ]; then
    echo "Ratios to uv_echo, libuv (msgs/s and msgs per CPU-s: higher is better; p99: lower is better)"
  else
    echo "Ratios to $base (msgs/s and msgs per CPU-s: higher is better; p99: lower is better)"
  fi
  echo
  echo "| conns | bytes | server | msgs/s | p99 | msgs per server CPU-s |"
  echo "|---:|---:|---|---:|---:|---:|"
  for c in $CONNS; do
    for s in $SIZES; do
      for name in "$@"; do
        local a="$name,$c,$s" b="$base,$c,$s"
        [ -n "${r_rate[$a]:-}" ] || continue
        printf '| %s | %s | %s | %s | %s | %s |\n' "$c" "$s" "$name" \
          "$(ratio "${r_rate[$a]:-}" "${r_rate[$b]:-}")" "$(ratio "${r_p99[$a]:-}" "${r_p99[$b]:-}")" \
          "$(ratio "${r_eff[$a]:-}" "${r_eff[$b]:-}")"
      done
    done
  done
}

# ---- http -------------------------------------------------------------------------------
# corio-httpd vs nginx (one worker, `return 200 "hello\n"`, access_log off) on GET /hello,
# both pinned to CPU 0 with wrk -t1 on CPU 1, at HTTP_CONNS keep-alive connections.

# A TCP port of 127.0.0.1 nobody listens on (nginx needs one named in its config).
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# The pids of a process's children (nginx's worker), from /proc.
children_of() {
  local d stat
  for d in /proc/[0-9]*; do
    stat=$(cat "$d/stat" 2>/dev/null) || continue
    stat=${stat##*) }
    [ "$(echo "$stat" | awk '{ print $2 }')" = "$1" ] && echo "${d#/proc/}"
  done
  return 0
}

# start_nginx [LISTEN_PARAMS [SERVER_LINES]]: starts nginx (master + 1 worker) pinned like
# the other servers, with LISTEN_PARAMS added to its listen directive ("ssl") and
# SERVER_LINES to its server block; sets server_pid, port.
start_nginx() {
  local dir=$tmp/nginx conf m extra="" built listen_params=${1:+ $1} server_lines=${2:-}
  mkdir -p "$dir/logs"
  built=$("$NGINX" -V 2>&1)
  port=$(free_port) || { note "no free port for nginx"; return 1; }
  # Temp paths inside the prefix (the compiled-in ones are under /var/lib/nginx), for the
  # modules this nginx has.
  for m in client_body proxy fastcgi uwsgi scgi; do
    if [ "$m" = client_body ] || [[ $built != *"--without-http_${m}_module"* ]]; then
      extra+="  ${m}_temp_path $dir/${m}_temp;"$'\n'
    fi
  done
  conf=$dir/nginx.conf
  cat >"$conf" <<NGINX
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 20000; }
http {
  access_log off;
  log_format reused '\$ssl_session_reused \$ssl_protocol \$ssl_cipher';
  keepalive_requests 100000000;
  keepalive_timeout 60s;
$extra  server {
    listen 127.0.0.1:$port backlog=4096$listen_params;
$server_lines    location = /hello { default_type text/plain; return 200 "hello\n"; }
  }
}
NGINX
  "${pin_server[@]}" "$NGINX" -p "$dir" -c "$conf" >"$tmp/server.out" 2>"$tmp/server.err" &
  server_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.05
  done
  note "nginx did not start:"
  sed 's/^/  /' "$tmp/server.err" "$dir/logs/error.log" >&2 2>/dev/null || true
  stop_server
  return 1
}

# CPU ticks of a process and its children (nginx: master + worker).
tree_ticks() {
  local total=0 p t
  for p in "$1" $(children_of "$1"); do
    t=$(cpu_ticks "$p" 2>/dev/null) || continue
    total=$((total + t))
  done
  echo "$total"
}

cpu1_busy() { awk '$1 == "cpu1" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# wrk's latency figure ("812.00us", "1.23ms", "2.01s") in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
    if (u == "ms") n *= 1000; else if (u == "s") n *= 1000000; printf "%.0f\n", n }'
}

# run_http NAME CONNS [SCHEME]: one wrk run against the server already started (over
# http, or SCHEME); prints a table row and records req/s, p99 and requests per CPU-second in
# h_rate/h_p99/h_eff[NAME,CONNS] (["SCHEME NAME,CONNS"] with a SCHEME).
declare -A h_rate h_p99 h_eff
run_http() {
  local name=$1 conns=$2 key="${3:+$3 }$1,$2" url="${3:-http}://127.0.0.1:$port/hello"
  local t0 t1 b0 b1 l0 l1 w0 w1 out rc=0
  note "${3:-http}: $name, $conns connections, ${DURATION} s"
  # A short warm-up, so that both servers start from established connections and caches.
  "${pin_load[@]}" "$WRK" -t1 -c"$conns" -d1s "$url" >/dev/null 2>&1 || true
  t0=$(tree_ticks "$server_pid") b0=$(cpu0_busy) l0=$(cpu1_busy) w0=$(date +%s%N)
  out=$("${pin_load[@]}" "$WRK" -t1 -c"$conns" -d"${DURATION}s" --latency "$url" \
        2>"$tmp/load.err") || rc=$?
  # CPU 0 and 1 first, then the server's ticks: reading those walks /proc (a process or two
  # per entry, seconds on a loaded machine), which must not count as the run's busy time.
  b1=$(cpu0_busy) l1=$(cpu1_busy) w1=$(date +%s%N) t1=$(tree_ticks "$server_pid")
  if ! kill -0 "$server_pid" 2>/dev/null; then
    note "$name died during the run:"; sed 's/^/  /' "$tmp/server.err" >&2; rc=1
  fi
  local reqs rate p99 errors
  reqs=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' <<<"$out")
  rate=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
  p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
  errors=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1 non-2xx/p; s/^ *Socket errors: *\(.*\)/\1/p' <<<"$out" | paste -sd';' -)
  if [ "$rc" -ne 0 ] || [ -z "$rate" ] || [ -z "$reqs" ] || [ -z "$p99" ]; then
    note "wrk failed against $name (exit $rc):"; sed 's/^/  /' "$tmp/load.err" <<<"$out" >&2
    echo "| $conns | $name | FAILED (see stderr) | | | | | | |"
    failed=1
    return
  fi
  p99=$(to_us "$p99")
  local scpu eff busy=- lbusy=-
  scpu=$(calc '%.2f' "($t1 - $t0) / $clk_tck")
  eff=$(calc '%.0f' "($t1 > $t0) ? $reqs / (($t1 - $t0) / $clk_tck) : 0")
  if [ ${#pin_server[@]} -gt 0 ]; then
    busy=$(calc '%.2f' "($b1 - $b0) / $clk_tck")
    lbusy=$(calc '%.0f%%' "100 * ($l1 - $l0) / $clk_tck / (($w1 - $w0) / 1e9)")
  fi
  h_rate[$key]=$rate h_p99[$key]=$p99 h_eff[$key]=$eff
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$conns" "$name" \
    "$(calc '%.0f' "$rate")" "$p99" "$scpu" "$busy" "$eff" "$lbusy" "${errors:-none}"
}

section_http() {
  WRK=${WRK:-$(command -v wrk || true)}
  NGINX=${NGINX:-$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)}
  local corio=()
  read -ra corio <<<"$CORIO_HTTPD"
  echo
  echo "## HTTP: GET /hello, keep-alive, wrk -t1"
  echo
  if [ -z "$WRK" ] || [ -z "$NGINX" ]; then
    note "http: skipped: needs wrk and nginx (install them with: .ci/deps bench)"
    echo "Skipped: wrk or nginx is missing (\`.ci/deps bench\` installs them)."
    return 0
  fi
  if [ ${#corio[@]} -eq 0 ] || [ ! -x "${corio[0]}" ]; then
    note "corio-httpd not found at '${CORIO_HTTPD}': skipping its rows (set CORIO_HTTPD=path)"
    echo "corio-httpd not found at \`${CORIO_HTTPD}\`: only nginx was run."
    echo
    corio=()
  fi
  # shellcheck disable=SC2016  # the backquotes are Markdown
  printf 'nginx %s: 1 worker, `return 200 "hello\\n"`, access_log off.\n' \
    "$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')"
  echo "corio-httpd: one loop, its built-in /hello. server CPU: utime+stime of the server's"
  echo "processes (nginx: master + worker); CPU 0 busy adds the softirq work on the server's CPU;"
  echo "load CPU: CPU 1 (wrk) busy; near 100% means wrk, not the server, was the limit."
  echo "corio-httpd (epoll): corio-httpd with \`${CORIO_EPOLL_ENV}\` in its environment."
  echo
  echo "| conns | server | req/s | p99 µs | server CPU s | CPU 0 busy s | req per server CPU-s | load CPU | errors |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---|"
  local c names=() name
  if [ ${#corio[@]} -gt 0 ]; then
    names=(corio-httpd)
    [ ${#epoll_env[@]} -eq 0 ] || names+=("corio-httpd (epoll)")
  fi
  for c in $HTTP_CONNS; do
    for name in "${names[@]}"; do
      local cmd=("${corio[@]}")
      [ "$name" = corio-httpd ] || cmd=(env "${epoll_env[@]}" "${corio[@]}")
      if start_server "$name" "${cmd[@]}"; then
        [ "$name" = corio-httpd ] || check_epoll "$name"
        run_http "$name" "$c"
        stop_server
      else
        echo "| $c | $name | FAILED: server did not start | | | | | | |"
        failed=1
      fi
    done
    if start_nginx; then
      run_http nginx "$c"
      stop_server
    else
      echo "| $c | nginx | FAILED: server did not start | | | | | | |"
      failed=1
    fi
  done
  [ ${#corio[@]} -gt 0 ] || return 0
  epoll_notes "corio-httpd (epoll)"
  echo
  echo "Ratios to nginx (req/s and req per CPU-s: higher is better; p99: lower is better)"
  echo
  echo "| conns | server | req/s | p99 | req per server CPU-s |"
  echo "|---:|---|---:|---:|---:|"
  for c in $HTTP_CONNS; do
    for name in "${names[@]}"; do
      local a="$name,$c" b="nginx,$c"
      printf '| %s | %s | %s | %s | %s |\n' "$c" "$name" \
        "$(ratio "${h_rate[$a]:-}" "${h_rate[$b]:-}")" "$(ratio "${h_p99[$a]:-}" "${h_p99[$b]:-}")" \
        "$(ratio "${h_eff[$a]:-}" "${h_eff[$b]:-}")"
    done
  done
}

# ---- fetch ------------------------------------------------------------------------------
# corio-fetch vs wrk -t1 as HTTP load generators: the same nginx (1 worker, pinned to CPU 0),
# GET /hello, keep-alive, each client alone on CPU 1 at FETCH_CONNS connections.

# Children's user+sys CPU seconds of this shell so far (bash's `times`, second line), into
# the variable named $1: a client run in between adds its own. `times` must run in this
# shell, not in a $(...) subshell, which has children of its own.
children_cpu() {
  times >"$tmp/times"
  printf -v "$1" '%s' "$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/);
    printf "%.3f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$tmp/times")"
}

# run_client TOOL LABEL CONNS KEY URL [ARG...]: one run of TOOL (wrk or corio-fetch) with
# ARGs against the nginx already started; prints a table row for LABEL and records req/s,
# p99 and req per client CPU-second in f_rate/f_p99/f_eff[KEY]. With reused_log set (nginx's
# access log, one $ssl_session_reused a line), the row has a cell more: the share of the
# measured requests whose TLS session was resumed.
declare -A f_rate f_p99 f_eff f_p99x # f_p99x: corio-fetch's p99 without the connects
reused_log=
run_client() {
  local tool=$1 label=$2 conns=$3 key=$4 url=$5
  shift 5
  local c0 c1 l0 l1 t0 t1 n0=0 n1=0 out rc=0 reqs rate p99 errors reused=
  local sec=fetch
  [ "${url%%:*}" = http ] || sec=tls
  note "$sec: $label, $conns connections, ${DURATION} s"
  if [ "$conns" -gt 1000 ]; then
    # Thousands of connections: no warm-up run, whose closed connections would hold
    # thousands of local ports in TIME_WAIT; and the ones of earlier runs waited out (at
    # most the kernel's 60 s), since a connect to one address searches the port range
    # linearly once it fills, which would slow this run's connects (and not the other's).
    local _
    for _ in $(seq 140); do
      [ "$(ss -Htan state time-wait | wc -l)" -lt 500 ] && break
      sleep 0.5
    done
  elif [ "$tool" = wrk ]; then # warm-up, so that both start from a warm server
    "${pin_load[@]}" "$WRK" -t1 -c"$conns" -d1s "$@" "$url" >/dev/null 2>&1 || true
  else
    "${pin_load[@]}" "$CORIO_FETCH" -q -d 1 -c "$conns" "$@" "$url" >/dev/null 2>&1 || true
  fi
  [ -z "$reused_log" ] || n0=$(wc -l <"$reused_log")
  # The server's ticks first and last: reading them walks /proc, which must not count as
  # the client's CPU 1 time.
  t0=$(tree_ticks "$server_pid")
  children_cpu c0
  l0=$(cpu1_busy)
  if [ "$tool" = wrk ]; then
    out=$("${pin_load[@]}" "$WRK" -t1 -c"$conns" -d"${DURATION}s" --latency "$@" "$url" \
          2>"$tmp/load.err") || rc=$?
  else
    out=$("${pin_load[@]}" "$CORIO_FETCH" -q --json -d "$DURATION" -c "$conns" "$@" "$url" \
          2>"$tmp/load.err") || rc=$?
  fi
  l1=$(cpu1_busy)
  children_cpu c1
  t1=$(tree_ticks "$server_pid")
  if [ -n "$reused_log" ]; then # nginx writes the line when the request is done: all are in
    n1=$(wc -l <"$reused_log")
    reused=$(tail -n "+$((n0 + 1))" "$reused_log" | head -n "$((n1 - n0))" |
      awk '{ n++; if ($1 == "r") r++ } END { if (n) printf "%.0f%%", 100 * r / n; else print "-" }')
  fi
  if [ "$tool" = wrk ]; then
    reqs=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' <<<"$out")
    rate=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' <<<"$out")
    p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
    [ -z "$p99" ] || p99=$(to_us "$p99")
    errors=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1 non-2xx/p; s/^ *Socket errors: *\(.*\)/\1/p' <<<"$out" | paste -sd';' -)
  else
    reqs=$(json_get "$out" requests) rate=$(json_get "$out" rps)
    p99=$(json_get "$out" p99_ms)
    [ -z "$p99" ] || p99=$(calc '%.0f' "$p99 * 1000")
    local x
    x=$(sed -n 's/.*"latency_excl_connect_ms":{[^}]*"p99":\([0-9.]*\).*/\1/p' <<<"$out")
    [ -z "$x" ] || f_p99x[$key]=$(calc '%.0f' "$x * 1000")
    local e
    e=$(json_get "$out" errors)
    [ "${e:-0}" = 0 ] || errors="$e errors"
    [ "$rc" -ne 1 ] || [ "${e:-0}" != 0 ] || rc=0 # exit 1 only reports failed requests
  fi
  if [ "$rc" -ne 0 ] || [ -z "$rate" ] || [ -z "$reqs" ] || [ -z "$p99" ]; then
    note "$label failed (exit $rc):"; sed 's/^/  /' "$tmp/load.err" <<<"$out" >&2
    echo "| $conns | $label | FAILED (see stderr) | | | | | |${reused_log:+ |} |"
    failed=1
    return
  fi
  local ccpu eff lbusy=- scpu
  ccpu=$(calc '%.2f' "$c1 - $c0")
  eff=$(calc '%.0f' "($c1 > $c0) ? $reqs / ($c1 - $c0) : 0")
  scpu=$(calc '%.2f' "($t1 - $t0) / $clk_tck")
  [ ${#pin_load[@]} -eq 0 ] || lbusy=$(calc '%.0f%%' "100 * ($l1 - $l0) / $clk_tck / $DURATION")
  f_rate[$key]=$rate f_p99[$key]=$p99 f_eff[$key]=$eff
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |%s %s |\n' "$conns" "$label" \
    "$(calc '%.0f' "$rate")" "$p99" "$ccpu" "$eff" "$lbusy" "$scpu" "${reused:+ $reused |}" \
    "${errors:-none}"
}

section_fetch() {
  WRK=${WRK:-$(command -v wrk || true)}
  NGINX=${NGINX:-$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)}
  echo
  echo "## HTTP clients: corio-fetch vs wrk -t1, GET /hello from nginx, keep-alive"
  echo
  if [ -z "$WRK" ] || [ -z "$NGINX" ]; then
    note "fetch: skipped: needs wrk and nginx (install them with: .ci/deps bench)"
    echo "Skipped: wrk or nginx is missing (\`.ci/deps bench\` installs them)."
    return 0
  fi
  if [ ! -x "$CORIO_FETCH" ]; then
    note "fetch: skipped: no corio-fetch at '$CORIO_FETCH' (set CORIO_FETCH=path)"
    echo "Skipped: corio-fetch not found at \`$CORIO_FETCH\`."
    return 0
  fi
  # shellcheck disable=SC2016  # the backquotes are Markdown
  printf 'nginx %s: 1 worker on CPU 0, `return 200 "hello\\n"`,\n' "$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')"
  echo "access_log off; a fresh nginx for each client run, then a 1 s warm-up by the same client."
  echo "Each client runs alone on CPU 1 (wrk -t1; corio-fetch is one thread). client CPU: the"
  echo "client's utime+stime; CPU 1 busy adds the softirq work done on the client's CPU; near"
  echo "100% there, or server CPU near ${DURATION} s, says which side was the limit."
  echo
  echo "| conns | client | req/s | p99 µs | client CPU s | req per client CPU-s | CPU 1 busy | server CPU s | errors |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---|"
  local c tool
  for c in $FETCH_CONNS; do
    for tool in corio-fetch wrk; do
      if start_nginx || start_nginx || start_nginx; then # the free port may be taken meanwhile
        run_client "$tool" "$tool" "$c" "$tool,$c" "http://127.0.0.1:$port/hello"
        stop_server
      else
        echo "| $c | $tool | FAILED: nginx did not start | | | | | | |"
        failed=1
      fi
    done
  done
  echo
  echo "Ratios corio-fetch / wrk (req/s and req per client CPU-s: higher is better; p99: lower is better)"
  echo
  echo "| conns | req/s | p99 | req per client CPU-s |"
  echo "|---:|---:|---:|---:|"
  for c in $FETCH_CONNS; do
    local a="corio-fetch,$c" b="wrk,$c"
    printf '| %s | %s | %s | %s |\n' "$c" \
      "$(ratio "${f_rate[$a]:-}" "${f_rate[$b]:-}")" "$(ratio "${f_p99[$a]:-}" "${f_p99[$b]:-}")" \
      "$(ratio "${f_eff[$a]:-}" "${f_eff[$b]:-}")"
  done
  echo
  echo "corio-fetch's p99 above counts each connection's first request with its connect; wrk"
  echo "times connects apart. Without the connects (latency_excl_connect_ms):"
  echo
  echo "| conns | corio-fetch p99 excl connect µs | wrk p99 µs | ratio |"
  echo "|---:|---:|---:|---:|"
  for c in $FETCH_CONNS; do
    local a="corio-fetch,$c" b="wrk,$c"
    printf '| %s | %s | %s | %s |\n' "$c" "${f_p99x[$a]:--}" "${f_p99[$b]:--}" \
      "$(ratio "${f_p99x[$a]:-}" "${f_p99[$b]:-}")"
  done
}

# ---- tls --------------------------------------------------------------------------------
# The fetch and http comparisons over HTTPS, nginx serving TLS with a certificate made here;
# and handshake rates, a connection per request.

# make_certs DIR: a CA (DIR/ca.pem) and a leaf for 127.0.0.1 and localhost signed by it
# (DIR/server.pem, leaf then CA; key DIR/server.key), EC P-256 keys, with the openssl command.
make_certs() {
  local d=$1
  mkdir -p "$d"
  cat >"$d/ext.cnf" <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
EOF
  {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/ca.key" &&
      openssl req -x509 -new -key "$d/ca.key" -subj "/CN=corio bench CA" -days 2 \
        -extensions ca -config "$d/ext.cnf" -out "$d/ca.pem" &&
      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/server.key" &&
      openssl req -new -key "$d/server.key" -subj "/CN=localhost" -config "$d/ext.cnf" \
        -out "$d/server.csr" &&
      openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -days 2 -extfile "$d/ext.cnf" -extensions leaf -out "$d/server.crt" &&
      cat "$d/server.crt" "$d/ca.pem" >"$d/server.pem"
  } >"$d/log" 2>&1 || {
    note "tls: openssl could not make the certificates:"
    sed 's/^/  /' "$d/log" >&2
    return 1
  }
}

# tls_clients: corio-fetch vs wrk -t1, keep-alive, against nginx serving TLS.
tls_clients() {
  local c tool args
  echo
  echo "### Clients: corio-fetch vs wrk -t1, keep-alive"
  echo
  echo "A fresh nginx for each client run, then a 1 s warm-up by the same client; each client"
  echo "alone on CPU 1. corio-fetch verifies the certificate (--cacert), wrk does not."
  echo "client CPU: its utime+stime; server CPU: nginx's (master + worker); CPU 1 busy near"
  echo "100%, or server CPU near ${DURATION} s, says which side was the limit."
  echo
  echo "| conns | client | req/s | p99 µs | client CPU s | req per client CPU-s | CPU 1 busy | server CPU s | errors |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---|"
  for c in $TLS_CONNS; do
    for tool in corio-fetch wrk; do
      args=()
      [ "$tool" = wrk ] || args=(--cacert "$certs/ca.pem")
      if start_nginx ssl "$tls_lines" || start_nginx ssl "$tls_lines"; then
        run_client "$tool" "$tool" "$c" "tls $tool,$c" "https://127.0.0.1:$port/hello" "${args[@]}"
        stop_server
      else
        echo "| $c | $tool | FAILED: nginx did not start | | | | | | |"
        failed=1
      fi
    done
  done
  echo
  echo "Ratios corio-fetch / wrk (req/s and req per client CPU-s: higher is better; p99: lower is better)"
  echo
  echo "| conns | req/s | p99 | req per client CPU-s |"
  echo "|---:|---:|---:|---:|"
  for c in $TLS_CONNS; do
    local a="tls corio-fetch,$c" b="tls wrk,$c"
    printf '| %s | %s | %s | %s |\n' "$c" \
      "$(ratio "${f_rate[$a]:-}" "${f_rate[$b]:-}")" "$(ratio "${f_p99[$a]:-}" "${f_p99[$b]:-}")" \
      "$(ratio "${f_eff[$a]:-}" "${f_eff[$b]:-}")"
  done
}

# tls_handshakes: a connection per request; full handshakes (nginx resumes nothing), then
# resumed ones (nginx's session tickets).
tls_handshakes() {
  local c kind label tool lines args log=$tmp/nginx/reused.log negotiated=
  # nginx logs each request's $ssl_session_reused ("r" or "."), unbuffered, and run_client
  # counts the lines of its measured run; the logging costs both clients' runs the same.
  local log_lines="    access_log $log reused;"$'\n'
  echo
  echo "### Handshakes: a new connection per request (\`Connection: close\`)"
  echo
  echo "full: nginx with ssl_session_cache off and ssl_session_tickets off, so that every"
  echo "connection is a full handshake; corio-fetch --no-keepalive --no-resume and"
  echo "wrk -H 'Connection: close'. resumed: nginx's defaults (session tickets), corio-fetch"
  echo "--no-keepalive and the same wrk, which resumes as well: it keeps its SSL object's"
  echo "session across reconnections. resumed: the share of the measured requests whose"
  echo "session nginx resumed (\$ssl_session_reused). req/s here is handshakes per second."
  echo "corio-fetch verifies the certificate chain in each full handshake (--cacert), wrk"
  echo "verifies nothing; the -k row (no verification either) is the like-for-like one."
  echo "p99 does not compare across clients here: corio-fetch's latency includes connecting and"
  echo "the handshake, wrk's starts once the request is written, after both."
  echo
  echo "| conns | client | req/s | p99 µs | client CPU s | req per client CPU-s | CPU 1 busy | server CPU s | resumed | errors |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"
  for c in $TLS_HANDSHAKE_CONNS; do
    for kind in full resumed; do
      lines=$tls_lines$log_lines
      [ "$kind" = resumed ] ||
        lines+="    ssl_session_cache off;"$'\n'"    ssl_session_tickets off;"$'\n'
      for tool in corio-fetch corio-fetch-k wrk; do
        if [ "$tool" = wrk ]; then
          args=(-H "Connection: close") label="wrk ($kind)"
        elif [ "$tool" = corio-fetch-k ]; then
          [ "$kind" = full ] || continue
          args=(-k --no-keepalive --no-resume) label="corio-fetch -k --no-keepalive --no-resume"
        else
          args=(--cacert "$certs/ca.pem" --no-keepalive) label="corio-fetch --no-keepalive"
          [ "$kind" = resumed ] || { args+=(--no-resume) label+=" --no-resume"; }
        fi
        if start_nginx ssl "$lines" || start_nginx ssl "$lines"; then
          reused_log=$log
          run_client "${tool%-k}" "$label" "$c" "hs $kind $tool,$c" "https://127.0.0.1:$port/hello" "${args[@]}"
          reused_log=
          [ -n "$negotiated" ] || negotiated=$(awk 'NR == 1 { print $2, $3 }' "$log")
          stop_server
          rm -f "$log"
        else
          echo "| $c | $label | FAILED: nginx did not start | | | | | | | |"
          failed=1
        fi
      done
    done
  done
  echo
  echo "Negotiated: ${negotiated:-unknown}."
  echo
  echo "Ratios corio-fetch / wrk (handshakes/s and per client CPU-s: higher is better)"
  echo
  echo "| conns | handshakes | req/s | req per client CPU-s |"
  echo "|---:|---|---:|---:|"
  for c in $TLS_HANDSHAKE_CONNS; do
    for kind in full full-k resumed; do
      local a="hs $kind corio-fetch,$c" b="hs $kind wrk,$c"
      [ "$kind" != full-k ] || a="hs full corio-fetch-k,$c" b="hs full wrk,$c" kind="full, -k"
      printf '| %s | %s | %s | %s |\n' "$c" "$kind" \
        "$(ratio "${f_rate[$a]:-}" "${f_rate[$b]:-}")" "$(ratio "${f_eff[$a]:-}" "${f_eff[$b]:-}")"
    done
  done
}

# tls_servers: corio-httpd HTTPS vs nginx HTTPS under wrk -t1, as section_http does over
# plain HTTP.
tls_servers() {
  local corio=() c
  read -ra corio <<<"$CORIO_HTTPD"
  echo
  echo "### Servers: corio-httpd vs nginx over HTTPS, GET /hello, keep-alive, wrk -t1"
  echo
  if [ ${#corio[@]} -eq 0 ] || [ ! -x "${corio[0]}" ]; then
    note "tls: corio-httpd not found at '${CORIO_HTTPD}': skipping its rows (set CORIO_HTTPD=path)"
    echo "corio-httpd not found at \`${CORIO_HTTPD}\`: only nginx was run."
    echo
    corio=()
  elif ! "${corio[@]}" --help 2>&1 | grep -q -- --tls-port; then
    note "tls: corio-httpd has no --tls-port: skipping the server table"
    echo "skipped: corio-httpd has no --tls-port"
    return 0
  fi
  echo "Both on CPU 0 with the same certificate, wrk -t1 on CPU 1 (no verification)."
  echo "corio-httpd: one loop, --cert, --key, --tls-port, its built-in /hello. Columns as in"
  echo "the HTTP table."
  echo
  echo "| conns | server | req/s | p99 µs | server CPU s | CPU 0 busy s | req per server CPU-s | load CPU | errors |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---|"
  for c in $TLS_CONNS; do
    if [ ${#corio[@]} -gt 0 ]; then
      if start_server_on https corio-httpd "${corio[@]}" --cert "$certs/server.pem" \
        --key "$certs/server.key" --tls-port 0; then
        run_http corio-httpd "$c" https
        stop_server
      else
        echo "| $c | corio-httpd | FAILED: server did not start | | | | | | |"
        failed=1
      fi
    fi
    if start_nginx ssl "$tls_lines" || start_nginx ssl "$tls_lines"; then
      run_http nginx "$c" https
      stop_server
    else
      echo "| $c | nginx | FAILED: server did not start | | | | | | |"
      failed=1
    fi
  done
  [ ${#corio[@]} -gt 0 ] || return 0
  echo
  echo "Ratios corio-httpd / nginx over HTTPS (req/s and req per CPU-s: higher is better; p99: lower is better)"
  echo
  echo "| conns | req/s | p99 | req per server CPU-s |"
  echo "|---:|---:|---:|---:|"
  for c in $TLS_CONNS; do
    local a="https corio-httpd,$c" b="https nginx,$c"
    printf '| %s | %s | %s | %s |\n' "$c" \
      "$(ratio "${h_rate[$a]:-}" "${h_rate[$b]:-}")" "$(ratio "${h_p99[$a]:-}" "${h_p99[$b]:-}")" \
      "$(ratio "${h_eff[$a]:-}" "${h_eff[$b]:-}")"
  done
}

section_tls() {
  WRK=${WRK:-$(command -v wrk || true)}
  NGINX=${NGINX:-$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)}
  echo
  echo "## HTTPS: nginx serving TLS, GET /hello"
  echo
  if [ -z "$WRK" ] || [ -z "$NGINX" ] || ! command -v openssl >/dev/null; then
    note "tls: skipped: needs wrk, nginx and openssl (install them with: .ci/deps bench)"
    echo "Skipped: wrk, nginx or openssl is missing (\`.ci/deps bench\` installs them)."
    return 0
  fi
  certs=$tmp/certs
  if ! make_certs "$certs"; then
    echo "FAILED: openssl could not make the certificates (see stderr)."
    failed=1
    return 0
  fi
  tls_lines="    ssl_certificate $certs/server.pem;"$'\n'"    ssl_certificate_key $certs/server.key;"$'\n'
  tls_lines+="    ssl_protocols TLSv1.2 TLSv1.3;"$'\n'
  local ossl
  ossl=$("$NGINX" -V 2>&1 | sed -n 's/.*(running with \(OpenSSL [^ ]*\).*/\1/p; s/^built with \(OpenSSL [^ ]*\).*/\1/p' | tail -1)
  # shellcheck disable=SC2016  # the backquotes are Markdown
  printf 'nginx %s (%s): 1 worker on CPU 0, `ssl_protocols TLSv1.2 TLSv1.3`, `return 200 "hello\\n"`,\n' \
    "$("$NGINX" -v 2>&1 | sed 's/.*nginx\///')" "${ossl:-OpenSSL}"
  echo "access_log off; an EC P-256 certificate from a CA made for this run."
  if [ -x "$CORIO_FETCH" ]; then
    tls_clients
    tls_handshakes
  else
    note "tls: no corio-fetch at '$CORIO_FETCH': skipping the client tables (set CORIO_FETCH=path)"
    echo
    echo "corio-fetch not found at \`$CORIO_FETCH\`: the client tables were skipped."
  fi
  tls_servers
}

# ---- rate -------------------------------------------------------------------------------
# Open loop at a fixed total rate: corio-fetch --rate R vs h2load --h1 --rps R/CONNS, the same
# nginx (1 worker, CPU 0), GET /hello, keep-alive, each client alone on CPU 1.

# run_rate TOOL RATE CONNS: one measured run of TOOL (corio-fetch or h2load) against the
# nginx already started, after a 1 s warm-up; prints a table row and records CPU per request
# and p99 in r_cpu/r_p99[TOOL,RATE].
declare -A r_cpu r_p99
run_rate() {
  local tool=$1 rate=$2 conns=$3 url="http://127.0.0.1:$port/hello"
  local per c0 c1 out rc=0 reqs achieved p99 errors=
  per=$(calc '%.6f' "$rate / $conns")
  note "rate: $tool, $rate req/s over $conns connections, ${DURATION} s"
  if [ "$tool" = h2load ]; then
    "${pin_load[@]}" "$H2LOAD" --h1 -t1 -c "$conns" --rps "$per" -D 1 "$url" >/dev/null 2>&1 || true
    children_cpu c0
    out=$("${pin_load[@]}" "$H2LOAD" --h1 -t1 -c "$conns" --rps "$per" -D "$DURATION" \
          --log-file "$tmp/h2load.log" "$url" 2>"$tmp/load.err") || rc=$?
    children_cpu c1
    reqs=$(sed -n 's/^requests: .* \([0-9]*\) succeeded, .*/\1/p' <<<"$out")
    achieved=$(sed -n 's/^finished in [0-9.]*s, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
    # Its log: start time, status, microseconds to the end of the response; nearest rank.
    p99=$(cut -f3 "$tmp/h2load.log" 2>/dev/null | sort -n |
      awk '{ v[NR] = $1 } END { if (NR) { r = int(NR * 0.99); if (r < NR * 0.99) r++; print v[r] } }')
    errors=$(sed -n 's/^requests: .* \([0-9]*\) failed, \([0-9]*\) errored, \([0-9]*\) timeout.*/\1 \2 \3/p' <<<"$out" |
      awk '$1 + $2 + $3 > 0 { print $1 " failed, " $2 " errored, " $3 " timeout" }')
  else
    "${pin_load[@]}" "$CORIO_FETCH" -q --rate "$rate" -c "$conns" -d 1 "$url" >/dev/null 2>&1 || true
    children_cpu c0
    out=$("${pin_load[@]}" "$CORIO_FETCH" -q --json --rate "$rate" -c "$conns" -d "$DURATION" \
          "$url" 2>"$tmp/load.err") || rc=$?
    children_cpu c1
    reqs=$(json_get "$out" requests)
    achieved=$(sed -n 's/.*"rate":{"requested":[0-9.]*,"achieved":\([0-9.]*\)}.*/\1/p' <<<"$out")
    p99=$(json_get "$out" p99_ms)
    [ -z "$p99" ] || p99=$(calc '%.0f' "$p99 * 1000")
    local e
    e=$(json_get "$out" errors)
    [ "${e:-0}" = 0 ] || errors="$e errors"
    [ "$rc" -ne 1 ] || [ "${e:-0}" != 0 ] || rc=0 # exit 1 only reports failed requests
  fi
  if [ "$rc" -ne 0 ] || [ -z "$reqs" ] || [ -z "$achieved" ] || [ -z "$p99" ]; then
    note "$tool failed (exit $rc):"; sed 's/^/  /' "$tmp/load.err" <<<"$out" >&2
    echo "| $rate | $conns | $tool | FAILED (see stderr) | | | | | |"
    failed=1
    return
  fi
  local ccpu per_req
  ccpu=$(calc '%.2f' "$c1 - $c0")
  per_req=$(calc '%.1f' "($reqs > 0) ? 1e6 * ($c1 - $c0) / $reqs : 0")
  r_cpu[$tool,$rate]=$per_req r_p99[$tool,$rate]=$p99
  printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$rate" "$conns" "$tool" "$reqs" \
    "$(calc '%.0f' "$achieved")" "$ccpu" "$per_req" "$p99" "${errors:-none}"
}

section_rate() {
  H2LOAD=${H2LOAD:-$(command -v h2load || true)}
  NGINX=${NGINX:-$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)}
  echo
  echo "## Open loop: corio-fetch --rate vs h2load --h1 --rps, GET /hello from nginx"
  echo
  if [ -z "$H2LOAD" ] || [ -z "$NGINX" ]; then
    note "rate: skipped: needs h2load (nghttp2-client) and nginx (install them with: .ci/deps bench)"
    echo "Skipped: h2load or nginx is missing (\`.ci/deps bench\` installs them)."
    return 0
  fi
  if [ ! -x "$CORIO_FETCH" ]; then
    note "rate: skipped: no corio-fetch at '$CORIO_FETCH' (set CORIO_FETCH=path)"
    echo "Skipped: corio-fetch not found at \`$CORIO_FETCH\`."
    return 0
  fi
  echo "The same total rate over $RATE_CONNS keep-alive connections (h2load: --rps rate/connections"
  echo "per connection, -t1); nginx, 1 worker on CPU 0, fresh for each run, then a 1 s warm-up"
  echo "by the same client; each client alone on CPU 1. client CPU: its utime+stime over the"
  echo "${DURATION} s run. p99: corio-fetch's counts from each request's due time, h2load's (from"
  echo "its --log-file, whose writing it pays for) from when it sent the request; at a rate both"
  echo "sustain, nothing queues and the two measure the same thing."
  echo
  echo "| rate | conns | client | requests | achieved req/s | client CPU s | CPU µs per request | p99 µs | errors |"
  echo "|---:|---:|---|---:|---:|---:|---:|---:|---|"
  local r tool
  for r in $RATE_RATES; do
    for tool in corio-fetch h2load; do
      if start_nginx || start_nginx || start_nginx; then
        run_rate "$tool" "$r" "$RATE_CONNS"
        stop_server
      else
        echo "| $r | $RATE_CONNS | $tool | FAILED: nginx did not start | | | | | |"
        failed=1
      fi
    done
  done
  echo
  echo "corio-fetch / h2load (CPU per request: below 1 is cheaper)"
  echo
  echo "| rate | CPU per request | p99 µs corio-fetch | p99 µs h2load |"
  echo "|---:|---:|---:|---:|"
  for r in $RATE_RATES; do
    printf '| %s | %s | %s | %s |\n' "$r" "$(ratio "${r_cpu[corio-fetch,$r]:-}" "${r_cpu[h2load,$r]:-}")" \
      "${r_p99[corio-fetch,$r]:-n/a}" "${r_p99[h2load,$r]:-n/a}"
  done
}

# ---- idle --------------------------------------------------------------------------------
# bench/idle_memory.sh with this run's programs: its table and machine-readable lines.
section_idle() {
  note "idle: $IDLE_N idle connections per server"
  CORIO_ECHO=$CORIO_ECHO EPOLL_ECHO=$EPOLL_ECHO URING_ECHO=$URING_ECHO UV_ECHO=$UV_ECHO \
    ECHO_LOAD=$ECHO_LOAD IDLE_CONNS=${IDLE_CONNS:-$build/bench/idle_conns} "$here/idle_memory.sh" "$build" "$IDLE_N" ||
    failed=1
}

# ---- main -------------------------------------------------------------------------------
# More sections plug in as section_NAME functions (and in the default list above).
for sec in "${sections[@]}"; do
  declare -F "section_$sec" >/dev/null || die "unknown section '$sec' (known: echo http fetch tls rate idle)"
done
header
for sec in "${sections[@]}"; do "section_$sec"; done
exit "$failed"
