#!/usr/bin/env bash
# Runs corio-bench from BUILD_DIR pinned to one CPU, with a header naming the machine.
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
