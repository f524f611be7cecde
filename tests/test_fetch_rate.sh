#!/usr/bin/env bash
# ctest "test_fetch_rate" (label fetch): corio-fetch's open loop (--rate) and latency reports.
#   - against tests/fetch_stall_server.py (stalls for 500 ms once a second), --rate 200 -c 4
#     -d 4 reports a p99 that includes the stall (>= 400 ms) and a p90 that counts the waits
#     of the requests due during it, while a closed-loop run (-c 4 -d 4) hides the stall in
#     its p99 (< 100 ms) and shows it only in its max;
#   - against a server that keeps up (corio-httpd when built, else the same server with no
#     stall), --rate 500 -d 3 achieves within 1% of 500 requests/s, and --rate with -n keeps
#     to its schedule;
#   - --latency-csv writes a well-formed percentile spectrum that agrees with --json;
#   - latency_excl_connect_ms takes out the connects;
#   - bad --rate values and an unwritable --latency-csv are refused before any request.
#   tests/test_fetch_rate.sh PATH/TO/corio-fetch [PATH/TO/corio-httpd]
set -uo pipefail
fetch=${1:?usage: test_fetch_rate.sh CORIO_FETCH [CORIO_HTTPD]}
httpd=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
command -v python3 >/dev/null || { echo "SKIP: python3 is needed for the stall server"; exit 77; }
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# start NAME COMMAND...: starts a server, sets port from its "listening on" line.
start() {
  local name=$1 out="$tmp/$1.out"
  shift
  "$@" >"$out" 2>"$tmp/$name.err" &
  pids+=($!)
  port=
  for _ in $(seq 200); do
    port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$out")
    [ -n "$port" ] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.05
  done
  echo "$name did not start: $(cat "$tmp/$name.err")" >&2
  exit 1
}

# run NAME ARGS...: corio-fetch -q --json ARGS; sets out, status.
run() {
  local name=$1
  shift
  out=$("$fetch" -q --json "$@" 2>"$tmp/err")
  status=$?
  case $out in
    '{"requests":'*'}') ;;
    *) fail "$name: no JSON on stdout (exit $status): $out $(cat "$tmp/err")" ;;
  esac
}
# The value at KEY or OBJECT.KEY of $out ("latency_ms.p99"): the JSON nests one level.
get() {
  local k=$1 s=$out
  if [[ $k == *.* ]]; then
    s=$(sed -n "s/.*\"${k%%.*}\":{\([^}]*\)}.*/\1/p" <<<"$s")
    k=${k#*.}
  fi
  sed -n "s/^\(.*[{,]\)\{0,1\}\"$k\":\([^,}]*\).*/\2/p" <<<"$s"
}
# check NAME AWK_CONDITION: fails NAME unless the condition holds (variables are passed as -v).
check() {
  local name=$1 cond=$2
  shift 2
  awk "$@" "BEGIN { exit !($cond) }" || fail "$name"
}

# ---- a stalling server: the open loop sees the stall, the closed loop hides it ----------
start stall python3 "$here/fetch_stall_server.py" --stall-ms 500 --period-ms 1000
stall_url=http://127.0.0.1:$port/
# Half of the requests fall due inside a stall, waiting up to 500 ms for its end: timed from
# when they were due, p90 is near 400 ms; timed from when a connection was free (coordinated
# omission), only the 4 caught in each stall would be slow, 2% of them.
run open-stall --rate 200 -c 4 -d 4 "$stall_url"
p90=$(get latency_ms.p90) p99=$(get latency_ms.p99) req=$(get rate.requested) n=$(get requests)
echo "open loop, --rate 200 -c 4 -d 4, stalling server: $n requests, p90 $p90 ms, p99 $p99 ms, achieved $(get rate.achieved)/s"
check "open loop: p99 $p99 ms should include the 500 ms stall (>= 400)" 'p >= 400' -v p="$p99"
check "open loop: p90 $p90 ms should count the waits for the stall's end (>= 250)" 'p >= 250' -v p="$p90"
check "open loop: p99_ms $(get p99_ms) should equal latency_ms.p99 $p99" 'a == b' \
  -v a="$(get p99_ms)" -v b="$p99"
check "open loop: requested rate $req" 'r == 200' -v r="$req"
# 800 fall due in 4 s; those still waiting in a stall at the end are cancelled (up to 100).
check "open loop: $n requests, 800 due in 4 s" 'n >= 650 && n <= 800' -v n="$n"
[ "$(get errors)" = 0 ] || fail "open loop: errors: $out"
run closed-stall -c 4 -d 4 "$stall_url"
cp99=$(get latency_ms.p99) cmax=$(get latency_ms.max)
echo "closed loop, -c 4 -d 4, same server: $(get requests) requests, p99 $cp99 ms, max $cmax ms"
check "closed loop: p99 $cp99 ms should hide the stall (< 100)" 'p < 100' -v p="$cp99"
check "closed loop: max $cmax ms should show it (>= 400)" 'm >= 400' -v m="$cmax"
case $out in *'"rate":'*) fail "closed loop: a rate object without --rate: $out" ;; esac

# ---- a server that keeps up: the achieved rate ------------------------------------------
if [ -n "$httpd" ] && [ -x "$httpd" ]; then
  start httpd "$httpd" --port 0
  fast_url=http://127.0.0.1:$port/hello
else
  echo "corio-httpd not built: the stall server without its stall keeps up instead"
  start nostall python3 "$here/fetch_stall_server.py" --stall-ms 0
  fast_url=http://127.0.0.1:$port/
fi
run rate500 --rate 500 -d 3 --latency-csv "$tmp/lat.csv" "$fast_url"
ach=$(get rate.achieved) n=$(get requests)
echo "open loop, --rate 500 -d 3: $n requests, achieved $ach/s, p99 $(get latency_ms.p99) ms"
check "--rate 500: achieved $ach/s, not within 1% of 500" 'a >= 495 && a <= 505' -v a="$ach"
check "--rate 500 -d 3: $n requests, not within 1% of 1500" 'n >= 1485 && n <= 1500' -v n="$n"
expect_status() { [ "$status" = "$1" ] || fail "$2: exit $status, want $1: $(cat "$tmp/err")"; }
expect_status 0 "--rate 500"

# The spectrum file: its header, rows of 4 numbers, every column non-decreasing, ending at
# percentile 1 with every response and the JSON's max.
awk -F, -v want="$(get ok)" -v max="$(get latency_ms.max)" -v p99="$(get latency_ms.p99)" '
  NR == 1 { if ($0 != "value_ms,percentile,count,1/(1-percentile)") bad = "header: " $0; next }
  NF != 4 { bad = "line " NR " has " NF " fields: " $0; exit }
  {
    if ($1 + 0 < v || $2 + 0 < p || $3 + 0 < c) bad = "line " NR " goes down: " $0
    if ($2 < 0 || $2 > 1) bad = "line " NR ": percentile " $2
    if ($2 < 1 && ($4 - 1 / (1 - $2)) ^ 2 > 0.01 * $4 ^ 2 + 0.0001) bad = "line " NR ": " $4 " is not 1/(1-p)"
    if ($2 >= 0.99 && !seen99) { seen99 = 1; if ($1 < p99 - 0.001) bad = "p99 row " $1 " below " p99 }
    v = $1; p = $2; c = $3; last = $0; rows++
  }
  END {
    if (bad == "" && rows < 20) bad = rows " rows"
    split(last, f, ",")
    if (bad == "" && (f[2] != 1 || f[3] != want || f[4] != "inf")) bad = "last row " last ", want 1,..." want ",inf"
    if (bad == "" && (f[1] - max) ^ 2 > 0.000001) bad = "last value " f[1] " is not max " max
    if (bad != "") { print bad; exit 1 }
  }' "$tmp/lat.csv" >"$tmp/csvcheck" || fail "--latency-csv: $(cat "$tmp/csvcheck")"

# -n: n requests on the schedule, which takes (n - 1) / R at least.
run rate-n --rate 1000 -n 500 -c 8 "$fast_url"
check "--rate 1000 -n 500: $(get requests) requests in $(get seconds) s, want 500 in >= 0.499 s" \
  'n == 500 && s >= 0.499' -v n="$(get requests)" -v s="$(get seconds)"

# Connect time taken out: with a connection per request the difference is every connect;
# over one kept-alive connection only the first request's.
run excl-close --no-keepalive -n 300 -c 1 "$fast_url"
m_close=$(get latency_ms.mean) x_close=$(get latency_excl_connect_ms.mean)
check "--no-keepalive: mean less connect $x_close should be below mean $m_close" 'a < b' \
  -v a="$x_close" -v b="$m_close"
run excl-keep -n 300 -c 1 "$fast_url"
m_keep=$(get latency_ms.mean) x_keep=$(get latency_excl_connect_ms.mean)
echo "less connect: --no-keepalive mean $m_close -> $x_close ms, keep-alive $m_keep -> $x_keep ms"
check "keep-alive: one connect ($m_keep - $x_keep) should weigh less than 300 ($m_close - $x_close)" \
  'mk - xk < mc - xc && xk <= mk' -v mk="$m_keep" -v xk="$x_keep" -v mc="$m_close" -v xc="$x_close"
check "keep-alive: p50 less connect $(get latency_excl_connect_ms.p50) should be near p50 $(get latency_ms.p50)" \
  'a <= b && a >= 0.9 * b' -v a="$(get latency_excl_connect_ms.p50)" -v b="$(get latency_ms.p50)"

# ---- usage errors -----------------------------------------------------------------------
for bad in 0 -5 abc "" 5x 1e8 nan inf 0x; do
  msg=$("$fetch" -q --rate "$bad" -n 1 "$fast_url" 2>&1 >/dev/null)
  status=$?
  expect_status 2 "--rate '$bad'"
  [[ $msg == *"--rate needs a number of requests per second above 0"* ]] ||
    fail "--rate '$bad': message '$msg'"
done
msg=$("$fetch" -q -n 1 "$fast_url" --rate 2>&1 >/dev/null)
status=$?
expect_status 2 "--rate without a value"
[[ $msg == *"--rate needs a value"* ]] || fail "--rate without a value: '$msg'"
msg=$("$fetch" -q -n 1 --rate 1.5 --latency-csv "$tmp/no/such/dir/x.csv" "$fast_url" 2>&1 >/dev/null)
status=$?
expect_status 1 "--latency-csv in a missing directory"
[[ $msg == *"cannot write $tmp/no/such/dir/x.csv"* ]] || fail "--latency-csv: message '$msg'"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "corio-fetch --rate: every check passed"
