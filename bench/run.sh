#!/usr/bin/env bash
# Runs corio-bench from BUILD_DIR pinned to one CPU, with a header naming the machine, spawns a
# million sleeping tasks (bench/many_tasks.c, MANY_TASKS=N to change), measures each echo
# server's memory per idle connection (bench/idle_memory.sh), then draws one latency chart of
# corio-fetch --rate against corio-httpd (BUILD_DIR/latency.svg).
#   bench/run.sh BUILD_DIR [google-benchmark flags...]
set -euo pipefail
build=${1:?usage: bench/run.sh BUILD_DIR [flags]}
shift
echo "corio-bench on $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
echo "kernel: $(uname -r)"
pin=()
if command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ]; then pin=(taskset -c 1); fi
# The summary also goes to BUILD_DIR/bench-results.md (with the machine) and, when gnuplot
# is installed, to a bar chart of the ratios, BUILD_DIR/bench-results.png.
md="$build/bench-results.md" dat="$build/bench-results.dat"
CORIO_BENCH_MD="$md.part" CORIO_BENCH_DAT="$dat" "${pin[@]}" "$build/bench/corio-bench" \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true "$@"
{
  echo "# corio-bench, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores," \
    "kernel $(uname -r); every baseline ran in the same run. Ratio: corio / baseline" \
    "(below 1: corio is faster or cheaper)."
  echo
  cat "$md.part"
} >"$md" && rm -f "$md.part"
# A million sleeping tasks on one loop (bench/many_tasks.c), against the pre-6.13 stack layout.
{
  echo
  echo "## A million tasks (bench/many_tasks.c)"
  echo
  "$build/bench/many_tasks" "${MANY_TASKS:-1000000}"
} | tee -a "$md" || echo "many_tasks: failed (see above)" | tee -a "$md"
# Idle-connection memory of every echo server, N = IDLE_N (default 15000) connections
# (bench/idle_memory.sh), appended to the results; a failed measurement is reported there.
"$(dirname "$0")/idle_memory.sh" "$build" "${IDLE_N:-15000}" | tee -a "$md" ||
  echo "idle_memory.sh: a measurement failed (see above)" | tee -a "$md"
echo "results: $md"
if command -v gnuplot >/dev/null && [ -s "$dat" ]; then
  gnuplot <<PLOT && echo "chart: $build/bench-results.png"
set terminal pngcairo size 1100,$((200 + 28 * $(wc -l <"$dat"))) font "sans,10"
set output "$build/bench-results.png"
set title "corio / baseline, same run (below 1: corio faster or cheaper)"
set datafile separator "\t"
set style fill solid 0.6
set xrange [0:*]
set yrange [-1:*] reverse
set grid x
set arrow from 1, graph 0 to 1, graph 1 nohead dt 2
unset key
plot "$dat" using (\$2/2):0:(\$2/2):(0.35):yticlabels(1) with boxxy
PLOT
fi
# One latency chart: corio-fetch --rate (CPU 1) against corio-httpd (CPU 0), the percentile
# spectrum of its --latency-csv drawn by bench/latency_chart.sh into BUILD_DIR/latency.svg.
# LATENCY_RATE (default 20000 req/s) over 64 connections for LATENCY_SECONDS (default 10).
fetch=$build/examples/corio-fetch httpd=$build/examples/corio-httpd
if command -v gnuplot >/dev/null && [ -x "$fetch" ] && [ -x "$httpd" ]; then
  rate=${LATENCY_RATE:-20000} secs=${LATENCY_SECONDS:-10} srv=() port=
  [ ${#pin[@]} -eq 0 ] || srv=(taskset -c 0)
  "${srv[@]}" "$httpd" --port 0 >"$build/latency-httpd.out" 2>/dev/null &
  hpid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$build/latency-httpd.out")
    [ -n "$port" ] && break
    sleep 0.05
  done
  echo "corio-fetch --rate $rate -c 64 -d $secs against corio-httpd:"
  if [ -n "$port" ] && "${pin[@]}" "$fetch" -q --rate "$rate" -c 64 -d "$secs" \
       --latency-csv "$build/latency.csv" "http://127.0.0.1:$port/hello"; then
    "$(dirname "$0")/latency_chart.sh" "$build/latency.svg" \
      "corio-fetch --rate $rate -c 64 against corio-httpd, $(date -u '+%Y-%m-%d')" \
      "$build/latency.csv=corio-fetch" && echo "latency chart: $build/latency.svg"
  else
    echo "corio-fetch --rate failed: no latency chart"
  fi
  kill "$hpid" 2>/dev/null || true
  wait "$hpid" 2>/dev/null || true
fi
