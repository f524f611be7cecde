#!/usr/bin/env bash
# Builds one fuzz target with clang's libFuzzer (+ ASan + UBSan) and fuzzes it for a
# bounded time, starting from a scratch copy of its seed corpus (the repo's corpus is not
# touched). A crash keeps its input in the build directory and fails the run: copy it
# into tests/fuzz/corpus/TARGET/ so the replay test keeps it fixed.
#   tests/fuzz/run.sh TARGET SECONDS OUT_DIR SOURCE...
# Exits 77 (ctest: skipped) when clang or its libFuzzer runtime is missing
# (apt-get install clang libclang-rt-14-dev).
set -uo pipefail
target=${1:?usage: run.sh TARGET SECONDS OUT_DIR SOURCE...}
seconds=${2:?}
out=${3:?}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

clang=$(command -v clang || command -v clang-14 || true)
if [ -z "$clang" ]; then
  echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev): skipped"
  exit 77
fi
mkdir -p "$out"
probe="$out/probe.c"
echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$probe"
if ! "$clang" -fsanitize=fuzzer "$probe" -o "$out/probe" 2>/dev/null; then
  echo "fuzz: clang has no libFuzzer runtime (apt-get install libclang-rt-14-dev): skipped"
  exit 77
fi

bin="$out/fuzz_$target"
flags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -I"$root/include" -I"$root/engine" -I"$root/examples")
if ! "$clang" "${flags[@]}" "$@" -o "$bin" -luring -lpthread 2>"$out/build.log"; then
  cat "$out/build.log" >&2
  echo "fuzz: $target did not build" >&2
  exit 1
fi

corpus="$out/corpus_$target"
rm -rf "$corpus" && mkdir -p "$corpus"
cp "$here/corpus/$target"/* "$corpus"/ 2>/dev/null || true
cd "$out" || exit 1
"$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$out/crash_${target}_" "$corpus" >"$out/fuzz_$target.log" 2>&1
status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/fuzz_$target.log")
cov=$(grep -o 'cov: [0-9]*' "$out/fuzz_$target.log" | tail -1)
echo "fuzz $target: ${execs:-?} executions in ${seconds}s, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l) inputs"
if [ "$status" -ne 0 ]; then
  tail -40 "$out/fuzz_$target.log" >&2
  echo "fuzz: $target found a failure; its input is $out/crash_${target}_*" >&2
  exit 1
fi
