#!/usr/bin/env bash
# The soak test: a corio server under well-behaved and hostile clients at once, for
# SOAK_SECONDS, then proof that it is still whole.
#
#   tests/soak/soak.sh [--hostile PATH] [--echo-load PATH] KIND SERVER_CMD...
#     KIND        echo (corio-echo and anything that echoes) or http (corio-httpd)
#     SERVER_CMD  the server and its flags; "--port 0" is appended, and its first stdout
#                 line must be "listening on [SCHEME://]ADDR:PORT" (examples/serving.h)
#     --hostile   tests/soak/hostile.c's binary (default: $SOAK_HOSTILE)
#     --echo-load bench/echo_load.c's binary, for KIND echo (default: $SOAK_ECHO_LOAD)
#
# Environment: SOAK_SECONDS (10), SOAK_SEED (random; printed, replays the hostile clients),
# SOAK_FLOOD_CONNS (200), SOAK_LORIS_CONNS (50), SOAK_FD_SLACK (2), SOAK_RSS_SLACK_MB (16).
#
# What it does
# 1. Starts the server on port 0 and records its open fds (/proc/PID/fd) and RSS (VmRSS).
# 2. Warm-up: one well-behaved load, then one short round of every hostile mode at the
#    soak's concurrency, so that pools, buffer rings and stacks are allocated as they will
#    be; then a self-check that the verifiers can fail (http-bad against an echo server must
#    make findings; halfclose against an HTTP server must see mismatches). Once the server
#    is idle again its fds and RSS are the baseline.
# 3. For SOAK_SECONDS: well-behaved clients in a loop (echo: echo_load runs of random sizes
#    1 B .. 1 MiB and connection counts, every byte checked; http: hostile http-good, every
#    body checked), slow-loris connections throughout, and back-to-back rounds of every
#    hostile mode in parallel: flood, reset-mid, garbage, plus halfclose (echo, verifying)
#    or http-bad (http). fds and RSS are sampled for their peaks.
# 4. Waits (bounded) for the server to go idle, checks it still answers (one more
#    well-behaved run), and then that
#    - every well-behaved and verifying client got exact bytes (exit codes, failures=0),
#      and no http-bad request got anything but a 4xx/5xx or a close;
#    - open fds are back to what they were before any client connected (so a leak in the
#      warm-up counts too), give or take SOAK_FD_SLACK (2): an fd the engine opens lazily
#      on first use (an eventfd for cross-thread wake-ups, the executor's) may appear
#      without being a leak, while a leak over a soak is hundreds;
#    - RSS is within max(SOAK_RSS_SLACK_MB (16) MiB, 25%) of the baseline: malloc keeps
#      freed memory in its arenas and pools keep what they reached, so RSS moves by a few
#      MiB without a leak, while a leak of even 100 bytes a connection over the soak's
#      hundreds of thousands of connections is tens of MiB. Under ASan, its quarantine
#      (which keeps freed memory on purpose, 256 MiB by default) is capped at 8 MiB through
#      ASAN_OPTIONS so that the bound still means something;
#    - SIGTERM ends it with status 0 within 20 s, and its stderr holds no sanitizer report
#      (AddressSanitizer, LeakSanitizer, UBSan "runtime error").
# 5. Prints a summary: duration, connections per mode, bytes verified, fds and RSS.
# Exit status 0 when every check passed, 1 otherwise, 77 when io_uring is unavailable.
# shellcheck disable=SC2317  # cleanup runs from a trap
set -uo pipefail

hostile=${SOAK_HOSTILE:-}
load=${SOAK_ECHO_LOAD:-}
while [ $# -gt 0 ]; do
  case $1 in
    --hostile) hostile=$2; shift 2 ;;
    --echo-load) load=$2; shift 2 ;;
    *) break ;;
  esac
done
usage="usage: soak.sh [--hostile PATH] [--echo-load PATH] echo|http SERVER_CMD..."
kind=${1:?$usage}
shift
[ $# -gt 0 ] || { echo "$usage" >&2; exit 2; }
case $kind in echo | http) ;; *) echo "$usage" >&2; exit 2 ;; esac
[ -x "$hostile" ] || { echo "soak: no hostile binary (--hostile)" >&2; exit 2; }
[ "$kind" = http ] || [ -x "$load" ] || { echo "soak: no echo_load binary (--echo-load)" >&2; exit 2; }

seconds=${SOAK_SECONDS:-10}
seed=${SOAK_SEED:-$((RANDOM * 32768 + RANDOM))}
RANDOM=$seed
flood_conns=${SOAK_FLOOD_CONNS:-200}
loris_conns=${SOAK_LORIS_CONNS:-50}
fd_slack=${SOAK_FD_SLACK:-2}
rss_slack_kb=$((${SOAK_RSS_SLACK_MB:-16} * 1024))
round_seconds=2
proto=$kind
export ASAN_OPTIONS="quarantine_size_mb=8${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

tmp=$(mktemp -d)
pid='' bg_pids=()
cleanup() {
  for p in "${bg_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "soak: FAIL: $*" >&2; failures=$((failures + 1)); }
now() { date +%s.%N; }
elapsed_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---- the server ---------------------------------------------------------------------------
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

"$@" --port 0 >"$tmp/out" 2>"$tmp/err" &
pid=$!
port=
for _ in $(seq 200); do
  port=$(listening_port "$tmp/out") && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
if [ -z "$port" ]; then
  echo "soak: $* did not print its listening line: $(cat "$tmp/err")" >&2
  grep -qi 'io_uring' "$tmp/err" && exit 77
  exit 1
fi
server_name=$(basename "$1")
shift
server_args="$*"

fds() { find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0; }
alive() {
  kill -0 "$pid" 2>/dev/null && return 0
  fail "the server died: $(tail -n 20 "$tmp/err")"
  return 1
}
peak_fds=0 peak_rss=0
sample() {
  local f r
  f=$(fds) r=$(rss_kb)
  [ "$f" -gt "$peak_fds" ] && peak_fds=$f
  [ "${r:-0}" -gt "$peak_rss" ] && peak_rss=$r
}
# Waits up to $1 seconds for the server's fds to come down to $2; prints the count.
wait_idle() {
  local f
  for _ in $(seq $(($1 * 10))); do
    f=$(fds)
    [ "$f" -le "$2" ] && break
    sleep 0.1
  done
  fds
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

fresh_fds=$(fds) fresh_rss=$(rss_kb)

# ---- the clients --------------------------------------------------------------------------
declare -A tot # "FIELD:MODE" -> the sum of FIELD over that mode's hostile runs
modes_seen=()
good_runs=0 good_failed=0 good_verified=0 good_msgs=0

# Runs hostile with "$@"; its summary line is appended to $tmp/h.MODE, then a line with
# its status and the start of its stderr.
hostile_run() {
  local mode=$1 err="$tmp/err.$BASHPID.$RANDOM"
  shift
  "$hostile" --mode "$mode" --port "$port" --proto "$proto" --seed "$((seed + RANDOM))" "$@" \
    >>"$tmp/h.$mode" 2>"$err"
  echo "status=$? $(head -n 5 "$err" | tr '\n' ' ')" >>"$tmp/h.$mode"
  rm -f "$err"
}
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }

# Folds the hostile summaries of $tmp/h.MODE into the totals, then forgets them.
collect() {
  local f mode line status
  for f in "$tmp"/h.*; do
    [ -e "$f" ] || continue
    mode=${f##*/h.}
    [ -n "${tot[runs:$mode]:-}" ] || { modes_seen+=("$mode"); tot[runs:$mode]=0; }
    while read -r line; do
      case $line in
        hostile*)
          tot[runs:$mode]=$((${tot[runs:$mode]} + 1))
          local k v
          for k in conns failures findings bytes_sent bytes_verified server_closed rst fin \
                   4xx 5xx closed; do
            v=$(field "$k" "$line")
            tot[$k:$mode]=$((${tot[$k:$mode]:-0} + ${v:-0}))
          done
          ;;
        status=*)
          status=${line#status=}
          status=${status%% *}
          if [ "$status" -ne 0 ]; then
            fail "hostile $mode exited $status: ${line#status=* }"
            [ "$mode" = http-good ] && good_failed=$((good_failed + 1))
          fi
          ;;
      esac
    done <"$f"
    rm -f "$f"
  done
}

# One well-behaved run of about $1 seconds: echo_load with a random size, or http-good.
good_run() {
  local secs=$1
  if [ "$kind" = echo ]; then
    local sizes=(1 17 512 4096 16384 65536 100003 262144 1M) conns=(1 4 16 64)
    local s=${sizes[RANDOM % ${#sizes[@]}]} c=${conns[RANDOM % ${#conns[@]}]}
    case $s in 262144 | 1M) c=$((c > 8 ? 8 : c)) ;; esac
    local out
    out=$("$load" --port "$port" -c "$c" -s "$s" -d "$secs" --json 2>"$tmp/load.err")
    local status=$?
    echo "status=$status size=$s conns=$c $out" >>"$tmp/good"
  else
    "$hostile" --mode http-good --port "$port" -c 16 -d "$secs" -t 5 \
      --seed "$((seed + RANDOM))" >>"$tmp/good" 2>>"$tmp/good.err"
    echo "status=$?" >>"$tmp/good"
  fi
}

collect_good() {
  [ -f "$tmp/good" ] || return
  local line status
  while read -r line; do
    case $line in
      status=*)
        status=$(sed -n 's/^status=\([0-9]*\).*/\1/p' <<<"$line")
        good_runs=$((good_runs + 1))
        if [ "$kind" = echo ]; then
          local size msgs
          size=$(sed -n 's/.*"size":\([0-9]*\).*/\1/p' <<<"$line")
          msgs=$(sed -n 's/.*"messages":\([0-9]*\).*/\1/p' <<<"$line")
          good_msgs=$((good_msgs + ${msgs:-0}))
          good_verified=$((good_verified + ${msgs:-0} * ${size:-0}))
          case $line in *'"ok":true'*) ;; *) status=1 ;; esac
        fi
        if [ "$status" -ne 0 ]; then
          good_failed=$((good_failed + 1))
          fail "well-behaved client failed: $line $(cat "$tmp/load.err" "$tmp/good.err" 2>/dev/null | tail -n 5 | tr '\n' ' ')"
        fi
        ;;
      hostile*)
        good_msgs=$((good_msgs + $(field responses "$line")))
        good_verified=$((good_verified + $(field bytes_verified "$line")))
        ;;
    esac
  done <"$tmp/good"
  rm -f "$tmp/good" "$tmp/good.err"
}

# One round of every hostile mode, in parallel, each for about $1 seconds.
round() {
  local secs=$1 pids=()
  hostile_run flood -c "$flood_conns" --hold 100 -d "$secs" -t 5 &
  pids+=($!)
  hostile_run reset-mid -c 8 -s 1M -d "$secs" -t 5 &
  pids+=($!)
  hostile_run garbage -c 8 -d "$secs" -t 5 &
  pids+=($!)
  if [ "$kind" = echo ]; then
    hostile_run halfclose -c 8 -s 1M -d "$secs" -t 10 &
  else
    hostile_run http-bad -c 8 -d "$secs" -t 5 &
  fi
  pids+=($!)
  while kill -0 "${pids[@]}" 2>/dev/null; do
    sample
    sleep 0.2
  done
  wait "${pids[@]}"
}

# ---- 2. warm-up, self-check, baseline -------------------------------------------------------
good_run 1
collect_good
round 1
loris_pid=
hostile_run loris -c "$loris_conns" -d 1 -t 5
collect
if [ "$kind" = echo ]; then
  out=$("$hostile" --mode http-bad --port "$port" -n 3 -c 1 -t 2 2>/dev/null)
  status=$?
  if [ "$status" -ne 1 ] || [ "$(field findings "$out")" -eq 0 ]; then
    fail "self-check: http-bad made no finding against an echo server: $out"
  fi
else
  out=$("$hostile" --mode halfclose --proto echo --port "$port" -n 3 -c 1 -s 4k -t 2 2>/dev/null)
  status=$?
  if [ "$status" -ne 1 ] || [ "$(field failures "$out")" -eq 0 ]; then
    fail "self-check: halfclose saw no mismatch against an HTTP server: $out"
  fi
fi
failures_after_warmup=$failures
base_fds=$(wait_idle 15 "$fresh_fds")
sleep 0.2
base_fds=$(fds) base_rss=$(rss_kb)
peak_fds=$base_fds peak_rss=$base_rss

# ---- 3. the soak ------------------------------------------------------------------------------
echo "soak: $server_name $server_args ($kind) on port $port for $seconds s, seed $seed"
t0=$(now)
end=$(awk -v a="$t0" -v s="$seconds" 'BEGIN { printf "%.3f", a + s }')
remaining() { awk -v e="$end" -v n="$(now)" 'BEGIN { r = e - n; printf "%d", (r > 0 ? r + 0.999 : 0) }'; }

( # the well-behaved clients, one run after another
  while r=$(remaining) && [ "$r" -gt 0 ]; do good_run $((r < 2 ? r : 2)); done
) &
good_pid=$!
bg_pids+=("$good_pid")
hostile_run loris -c "$loris_conns" -d "$seconds" -t 5 &
loris_pid=$!
bg_pids+=("$loris_pid")
rounds=0
while alive && r=$(remaining) && [ "$r" -gt 0 ]; do
  round $((r < round_seconds ? r : round_seconds))
  rounds=$((rounds + 1))
done
wait "$good_pid" "$loris_pid"
bg_pids=()
soak_secs=$(elapsed_since "$t0")
collect
collect_good

# ---- 4. idle, still answering, fds, RSS, SIGTERM ------------------------------------------------
if alive; then
  t_idle=$(now)
  idle_fds=$(wait_idle 15 "$base_fds")
  idle_secs=$(elapsed_since "$t_idle")
  good_before=$good_failed
  if [ "$kind" = echo ]; then
    out=$("$load" --port "$port" -c 8 -s 100003 -n 400 --json 2>&1)
    echo "status=$? size=100003 $out" >>"$tmp/good"
  else
    "$hostile" --mode http-good --port "$port" -c 4 -n 40 -t 5 >>"$tmp/good" 2>>"$tmp/good.err"
    echo "status=$?" >>"$tmp/good"
  fi
  collect_good
  [ "$good_failed" -eq "$good_before" ] || fail "the server does not answer after the soak"
  end_fds=$(wait_idle 15 "$base_fds")
  sleep 0.2
  end_fds=$(fds) end_rss=$(rss_kb)
  fd_limit=$((fresh_fds + fd_slack))
  [ "$end_fds" -le "$fd_limit" ] ||
    fail "open fds: $end_fds after the soak, $fresh_fds before any client, $base_fds after" \
      "the warm-up (slack $fd_slack): a leak" \
      "(most open: $(find "/proc/$pid/fd" -mindepth 1 -exec readlink {} + 2>/dev/null |
        sed 's/:\[.*//' | sort | uniq -c | sort -rn | head -n 3 | tr -s ' \n' ' '))"
  rss_limit=$((base_rss + (base_rss / 4 > rss_slack_kb ? base_rss / 4 : rss_slack_kb)))
  [ "$end_rss" -le "$rss_limit" ] ||
    fail "RSS $(mib "$end_rss") after the soak, $(mib "$base_rss") before (limit $(mib "$rss_limit"))"

  kill -TERM "$pid"
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    fail "no exit within 20 s of SIGTERM"
    kill -KILL "$pid"
  fi
  wait "$pid"
  term_status=$?
  pid=
  [ "$term_status" -eq 0 ] || fail "exit status $term_status on SIGTERM"
fi
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|ThreadSanitizer' "$tmp/err"; then
  fail "sanitizer report on the server's stderr:"
  grep -E -A 12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|ThreadSanitizer' \
    "$tmp/err" | head -n 40 >&2
fi

# ---- 5. summary --------------------------------------------------------------------------------
gib() { awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%.2f GiB", b / 1073741824;
                               else if (b >= 1048576) printf "%.1f MiB", b / 1048576;
                               else printf "%.1f KiB", b / 1024 }'; }
echo "soak: $server_name $server_args: ${soak_secs:-?} s, $rounds hostile rounds, seed $seed"
if [ "$kind" = echo ]; then
  echo "  well-behaved  $good_runs echo_load runs, $good_msgs messages, $(gib "$good_verified") verified, $good_failed failed"
else
  echo "  well-behaved  $good_runs http-good runs, $good_msgs responses, $(gib "$good_verified") of bodies verified, $good_failed failed"
fi
for mode in "${modes_seen[@]}"; do
  printf '  %-12s  %d connections (%d reset, %d closed by us, %d by the server), %s sent' \
    "$mode" "${tot[conns:$mode]}" "${tot[rst:$mode]}" "${tot[fin:$mode]}" \
    "${tot[server_closed:$mode]}" "$(gib "${tot[bytes_sent:$mode]}")"
  [ "${tot[bytes_verified:$mode]}" -gt 0 ] &&
    printf ', %s verified' "$(gib "${tot[bytes_verified:$mode]}")"
  [ "$mode" = http-bad ] && printf ', answered %d 4xx, %d 5xx, %d closed silently' \
    "${tot[4xx:$mode]}" "${tot[5xx:$mode]}" "${tot[closed:$mode]}"
  printf ', %d failures, %d findings\n' "${tot[failures:$mode]}" "${tot[findings:$mode]}"
done
echo "  fds           $fresh_fds fresh, $base_fds after warm-up, peak $peak_fds, ${idle_fds:-?} idle after ${idle_secs:-?} s, ${end_fds:-?} at the end (limit ${fd_limit:-?})"
echo "  RSS           $(mib "$fresh_rss") fresh, $(mib "$base_rss") after warm-up, peak $(mib "$peak_rss"), $(mib "${end_rss:-0}") at the end (limit $(mib "${rss_limit:-0}"))"
echo "  SIGTERM       exit ${term_status:-?}"
if [ "$failures" -gt 0 ]; then
  [ "$failures_after_warmup" -gt 0 ] && echo "  ($failures_after_warmup of the failures in the warm-up)"
  echo "soak: FAILED ($failures check(s))"
  exit 1
fi
echo "soak: passed"
