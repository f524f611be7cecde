#!/usr/bin/env bash
# Draws latency percentile spectra, corio-fetch --latency-csv files, as one SVG chart:
# latency (ms) against percentile on HdrHistogram's log axis of 1/(1-percentile), so that
# the tail from p90 to p99.999 gets as much room as the body.
#   bench/latency_chart.sh OUT.svg TITLE CSV[=LABEL]...
# A CSV without =LABEL is labelled by its file name. Needs gnuplot.
set -euo pipefail
out=${1:?usage: bench/latency_chart.sh OUT.svg TITLE CSV[=LABEL]...}
title=${2:?usage: bench/latency_chart.sh OUT.svg TITLE CSV[=LABEL]...}
shift 2
[ $# -gt 0 ] || { echo "latency_chart.sh: no CSV given" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "latency_chart.sh: gnuplot is not installed" >&2; exit 1; }
plots=()
for arg in "$@"; do
  csv=${arg%%=*} label=$(basename "$csv" .csv)
  [[ $arg == *=* ]] && label=${arg#*=}
  [ -s "$csv" ] || { echo "latency_chart.sh: $csv is missing or empty" >&2; exit 1; }
  # The last row (percentile 1, 1/(1-p) infinite) has no place on the axis: left out.
  plots+=("'$csv' using 4:1 every ::1 with lines lw 2 title '${label//\'/}'")
done
gnuplot <<PLOT
set terminal svg size 900,500 dynamic font "sans,11"
set output "$out"
set title "${title//\"/}"
set datafile separator ","
set logscale x 10
set xrange [1:*]
set xtics ("0%%" 1, "90%%" 10, "99%%" 100, "99.9%%" 1000, "99.99%%" 10000, "99.999%%" 100000, "99.9999%%" 1000000)
set xlabel "percentile"
set ylabel "latency, ms"
set yrange [0:*]
set grid
set key top left
plot $(IFS=,; echo "${plots[*]}")
PLOT
