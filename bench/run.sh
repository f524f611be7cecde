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
"${pin[@]}" "$build/bench/corio-bench" --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true "$@"
