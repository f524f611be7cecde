#!/usr/bin/env bash
# Installs a corio build into a scratch prefix and builds tests/package/consumer against the
# installed package the ways users do, then runs every binary:
#   1. pkg-config, shared:   cc consumer.c $(pkg-config --cflags --libs corio)
#   2. pkg-config, static:   the same with --static, libcorio.a instead of libcorio.so
#   3. find_package(corio):  corio::corio and corio::corio_static
#   4. libcorio-http the same three ways: consumer_http.c with pkg-config corio-http
#      (shared, static) and corio::http / corio::http_static
# Usage (ctest passes these): test_install.sh BUILD_DIR WORK_DIR LIBDIR VERSION CC CMAKE
#                                             GENERATOR PKG_CONFIG
# Exits 0, 1 on a failure, 77 (skipped) when io_uring is unavailable to run the binaries.
set -euo pipefail
build=$1 work=$2 libdir=$3 version=$4 cc=$5 cmake=$6 generator=$7 pkg_config=$8
src=$(cd "$(dirname "$0")" && pwd)/consumer
prefix=$work/prefix
soname=libcorio.so.${version%%.*}
expected="corio $version: callback nop 0, task nop 0, slept 0, channel 42"
expected_http="corio-http: 200 pong:ping, tls refuses a missing file"

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
# run NAME BINARY [EXPECTED]: runs it and checks its one line of output.
run() {
  local out rc=0 want=${3:-$expected}
  out=$("$2" 2>&1) || rc=$?
  echo "$1: $out"
  [ "$rc" -ne 77 ] || { echo "SKIP: $out"; exit 77; }
  [ "$rc" -eq 0 ] || fail "$1 exited $rc"
  [ "$out" = "$want" ] || fail "$1 printed '$out', expected '$want'"
}
# links_corio BINARY: prints the libcorio the binary needs at run time (nothing: static).
links_corio() {
  local deps
  deps=$(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  grep libcorio <<<"$deps" || true
}

rm -rf "$work"
mkdir -p "$work"

step "cmake --install $build --prefix $prefix"
"$cmake" --install "$build" --prefix "$prefix" > "$work/install.log" ||
  { cat "$work/install.log"; fail "install"; }
for f in include/corio/corio.h include/corio/sync.h "$libdir/libcorio.a" "$libdir/libcorio.so" \
         "$libdir/$soname" "$libdir/libcorio.so.$version" "$libdir/pkgconfig/corio.pc" \
         "$libdir/cmake/corio/corioConfig.cmake" "$libdir/cmake/corio/corioConfigVersion.cmake" \
         "$libdir/cmake/corio/corioTargets.cmake"; do
  [ -e "$prefix/$f" ] || fail "$f not installed"
done
got=$(readelf -d "$prefix/$libdir/libcorio.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$got" = "$soname" ] || fail "SONAME is '$got', expected $soname"
echo "installed: $(cd "$prefix" && find . -type f -o -type l | sort | tr '\n' ' ')"

step "pkg-config"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
got=$("$pkg_config" --modversion corio) || fail "pkg-config cannot read corio.pc"
[ "$got" = "$version" ] || fail "pkg-config --modversion corio is '$got', expected $version"
got=$("$pkg_config" --variable=libdir corio)
[ "$got" = "$prefix/$libdir" ] || fail "corio.pc libdir is '$got', expected $prefix/$libdir"
flags=$("$pkg_config" --cflags --libs corio)
echo "shared: $flags"
# shellcheck disable=SC2086 # the flags are meant to split
"$cc" -o "$work/pc_shared" "$src/consumer.c" $flags -Wl,-rpath,"$prefix/$libdir"
[ "$(links_corio "$work/pc_shared")" = "$soname" ] || fail "pc_shared does not link $soname"
run pc_shared "$work/pc_shared"

# -lcorio would pick libcorio.so when both are there: ask for the archive by file name.
flags=$("$pkg_config" --static --cflags --libs corio)
echo "static: $flags"
flags=${flags//-lcorio/-l:libcorio.a}
# shellcheck disable=SC2086
"$cc" -o "$work/pc_static" "$src/consumer.c" $flags
[ -z "$(links_corio "$work/pc_static")" ] || fail "pc_static links libcorio.so"
run pc_static "$work/pc_static"

flags=$("$pkg_config" --cflags --libs corio-http)
echo "http shared: $flags"
# shellcheck disable=SC2086
"$cc" -o "$work/pc_http_shared" "$src/consumer_http.c" $flags -Wl,-rpath,"$prefix/$libdir"
readelf -d "$work/pc_http_shared" | grep -q 'NEEDED.*libcorio-http.so' ||
  fail "pc_http_shared does not link libcorio-http.so"
run pc_http_shared "$work/pc_http_shared" "$expected_http"
flags=$("$pkg_config" --static --cflags --libs corio-http)
echo "http static: $flags"
flags=${flags//-lcorio-http/-l:libcorio-http.a}
flags=${flags//-lcorio /-l:libcorio.a }
# shellcheck disable=SC2086
"$cc" -o "$work/pc_http_static" "$src/consumer_http.c" $flags
[ -z "$(links_corio "$work/pc_http_static")" ] || fail "pc_http_static links a shared libcorio"
run pc_http_static "$work/pc_http_static" "$expected_http"

step "find_package(corio $version)"
unset PKG_CONFIG_PATH # corioConfig.cmake must find what it needs without it
"$cmake" -S "$src" -B "$work/cmake" -G "$generator" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCORIO_WANT_VERSION="$version" > "$work/cmake.log" ||
  { cat "$work/cmake.log"; fail "configuring the consumer project"; }
grep -qF -- "-- corio $version from $prefix/$libdir/cmake/corio" "$work/cmake.log" ||
  { cat "$work/cmake.log"; fail "find_package did not take corio from $prefix"; }
"$cmake" --build "$work/cmake" > "$work/build.log" 2>&1 ||
  { cat "$work/build.log"; fail "building the consumer project"; }
[ "$(links_corio "$work/cmake/consumer_shared")" = "$soname" ] ||
  fail "consumer_shared does not link $soname"
[ -z "$(links_corio "$work/cmake/consumer_static")" ] || fail "consumer_static links libcorio.so"
run consumer_shared "$work/cmake/consumer_shared"
run consumer_static "$work/cmake/consumer_static"
run consumer_http_shared "$work/cmake/consumer_http_shared" "$expected_http"
run consumer_http_static "$work/cmake/consumer_http_static" "$expected_http"

echo "package: pkg-config corio and corio-http (shared, static) and find_package (corio::corio, corio::corio_static, corio::http, corio::http_static) OK"
