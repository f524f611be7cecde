#!/usr/bin/env bash
# ctest "test_fetch_no_uring" (label fetch): corio-fetch where io_uring is blocked, against
# corio-httpd started outside the filter (on 127.0.0.1, a free port, HTTP and HTTPS with
# the tls_certs fixture's certificates, files of random bytes under --root).
# - Plain conditions: --json says "backend":"io_uring" and has no "backend_fallback"; -v
#   says "backend io_uring" on stderr (after the outcomes); without -v nothing about it.
# - Under tests/no_uring (EPERM, and ENOSYS with --enosys), corio-fetch runs on epoll:
#   URLs fetched once with -o come back byte for byte (a 1 MiB file, a POST /echo of
#   100 KiB); a load of N requests over 16 connections (three files cycled), an HTTPS load
#   verifying the certificate, and one with a new TLS connection per request are all 200,
#   with exactly the bytes expected, no error, exit 0; --json says "backend":"epoll" and
#   "backend_fallback" names io_uring and seccomp; without -q, stderr has one line saying
#   it runs on epoll and why (with -v too, and no second one); with -q none.
# - CORIO_BACKEND=io_uring under the filter: exit 1, nothing on stdout, io_uring and
#   seccomp named on stderr; CORIO_BACKEND=bogus: exit 1 naming CORIO_BACKEND.
# Each corio-fetch run is bounded (60 s); the server is stopped by its PID and must exit 0.
# The filtered part is skipped (77) where no seccomp filter can be installed.
#   tests/test_fetch_no_uring.sh NO_URING CORIO_FETCH CORIO_HTTPD
# shellcheck disable=SC2317  # cleanup runs from a trap
set -uo pipefail
unset CORIO_BACKEND # this test picks the backends itself (the epoll pass sets it)
usage="usage: test_fetch_no_uring.sh NO_URING CORIO_FETCH CORIO_HTTPD"
no_uring=${1:?$usage}
fetch=${2:?$usage}
httpd=${3:?$usage}
certs=${CORIO_TEST_CERTS:?set CORIO_TEST_CERTS (the tls_certs fixture)}
# shellcheck source=tests/server_lib.sh
source "$(dirname "$0")/server_lib.sh"

json_get() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }
json_str() { sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" <<<"$1"; }
status_count() {
  local v
  v=$(sed -n "s/.*\"status\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" <<<"$1")
  echo "${v:-0}"
}
expect_eq() { # NAME GOT WANT
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# NAME ARGS...: runs ARGS (a corio-fetch command line, maybe behind env or no_uring) for at
# most 60 s; sets out (stdout), err (stderr) and status.
run() {
  local name=$1
  shift
  out=$(timeout -s KILL 60 "$@" 2>"$tmp/fetch.err")
  status=$?
  err=$(cat "$tmp/fetch.err")
  [ "$status" -ne 137 ] || fail "$name: still running after 60 s (killed)"
}

# NAME REQUESTS BYTES: the last run was a --json one in which all REQUESTS requests got a
# 200, with BYTES bytes of bodies in all, no error, and exit 0.
expect_all_ok() {
  case $out in
    '{"requests":'*'}') ;;
    *) fail "$1: no JSON on stdout (exit $status): $out $err"; return ;;
  esac
  expect_eq "$1: exit" "$status" 0
  expect_eq "$1: requests" "$(json_get "$out" requests)" "$2"
  expect_eq "$1: ok" "$(json_get "$out" ok)" "$2"
  expect_eq "$1: 200s" "$(status_count "$out" 200)" "$2"
  expect_eq "$1: errors" "$(json_get "$out" errors)" 0
  expect_eq "$1: http_errors" "$(json_get "$out" http_errors)" 0
  expect_eq "$1: bytes" "$(json_get "$out" bytes)" "$3"
}

# ---- the server, outside the filter --------------------------------------------------
mkdir "$tmp/www" "$tmp/saved"
head -c 1048576 /dev/urandom >"$tmp/www/big.bin"
head -c 65536 /dev/urandom >"$tmp/www/mid.bin"
head -c 4096 /dev/urandom >"$tmp/www/small.bin"
head -c 102400 /dev/urandom >"$tmp/post.bin"
start_server "$httpd" --port 0 --tls-port 0 --cert "$certs/server.pem" --key "$certs/server.key" \
  --root "$tmp/www"
hport=$port
tport=
for _ in $(seq 200); do # its lines come one after the other: the https one may lag
  tport=$(listening_port "$tmp/out.$starts" https) && break
  sleep 0.05
done
[ -n "$tport" ] || { echo "corio-httpd printed no https listening line" >&2; exit 1; }
base=http://127.0.0.1:$hport
secure=https://127.0.0.1:$tport

# ---- plain conditions: io_uring ------------------------------------------------------
run "plain --json" "$fetch" -q --json -n 20 -c 4 "$base/hello"
expect_all_ok "plain --json" 20 120
if [ "$(json_str "$out" backend)" = epoll ] && [ -n "$(json_str "$out" backend_fallback)" ]; then
  echo "io_uring is unavailable here too: $(json_str "$out" backend_fallback)"
else
  expect_eq "plain --json: backend" "$(json_str "$out" backend)" io_uring
  [[ $out == *'"backend_fallback"'* ]] && fail "plain --json: a backend_fallback: $out"
  [[ $err == *backend* ]] && fail "plain: a backend line without -v: $err"
  run "plain -v" "$fetch" -v -n 1 "$base/hello"
  expect_eq "plain -v: exit" "$status" 0
  [ "$(tail -1 <<<"$err")" = 'corio-fetch: backend io_uring' ] ||
    fail "plain -v: stderr does not end with 'corio-fetch: backend io_uring': $err"
fi

# ---- io_uring blocked ------------------------------------------------------------------
require_seccomp_filter "$no_uring" "stop_server_within_10s corio-httpd"

# NAME: the last run's JSON says epoll, and why.
expect_epoll() {
  expect_eq "$1: backend" "$(json_str "$out" backend)" epoll
  grep -qiE -- "$blocked" <<<"$(json_str "$out" backend_fallback)" ||
    fail "$1: backend_fallback does not match '$blocked': $out"
}

n=999 # a third for each of the three files
load_bytes=$(((4096 + 65536 + 6) * n / 3))
for how in "" --enosys; do
  # shellcheck disable=SC2206  # $how: no word, or the one word --enosys
  blk=("$no_uring" $how)

  # Fetched once each and saved: byte for byte. Without -q: the line on stderr.
  rm -f "$tmp/saved"/*
  run "once $how" "${blk[@]}" "$fetch" --json -o "$tmp/saved" "$base/big.bin" "$base/hello" \
    "$secure/small.bin" --cacert "$certs/ca.pem"
  expect_all_ok "once $how" 3 $((1048576 + 6 + 4096))
  expect_epoll "once $how"
  cmp -s "$tmp/saved/127.0.0.1_${hport}_big.bin" "$tmp/www/big.bin" ||
    fail "once $how: big.bin was not saved byte for byte ($(ls -l "$tmp/saved"))"
  cmp -s "$tmp/saved/127.0.0.1_${tport}_small.bin" "$tmp/www/small.bin" ||
    fail "once $how: small.bin over HTTPS was not saved byte for byte ($(ls -l "$tmp/saved"))"
  lines=$(grep -c '^corio-fetch: backend epoll (io_uring unavailable: ' <<<"$err")
  expect_eq "once $how: fallback lines on stderr" "$lines" 1
  grep -qiE -- "$blocked" <<<"$err" || fail "once $how: stderr does not match '$blocked': $err"

  # -v (even with -q): that one line, not a second one at the end.
  run "-v $how" "${blk[@]}" "$fetch" -q -v --json -n 2 "$base/hello"
  expect_all_ok "-v $how" 2 12
  expect_eq "-v $how: backend lines on stderr" "$(grep -c '^corio-fetch: backend' <<<"$err")" 1
  grep -q '^corio-fetch: backend epoll (io_uring unavailable: ' <<<"$err" ||
    fail "-v $how: no fallback line on stderr: $err"

  rm -f "$tmp/saved"/*
  run "POST $how" "${blk[@]}" "$fetch" -q --json -o "$tmp/saved" --data-file "$tmp/post.bin" \
    "$base/echo"
  expect_all_ok "POST $how" 1 102400
  cmp -s "$tmp/saved/127.0.0.1_${hport}_echo" "$tmp/post.bin" ||
    fail "POST $how: /echo did not come back byte for byte ($(ls -l "$tmp/saved"))"
  [ -z "$err" ] || fail "POST $how: -q, yet stderr: $err"

  # Loads: every request 200, every byte counted.
  run "load $how" "${blk[@]}" "$fetch" -q --json -n "$n" -c 16 "$base/small.bin" \
    "$base/mid.bin" "$base/hello"
  expect_all_ok "load $how" "$n" "$load_bytes"
  expect_epoll "load $how"
  run "HTTPS load $how" "${blk[@]}" "$fetch" -q --json -n 300 -c 8 --cacert "$certs/ca.pem" \
    "$secure/mid.bin"
  expect_all_ok "HTTPS load $how" 300 $((300 * 65536))
  expect_epoll "HTTPS load $how"
  run "HTTPS handshakes $how" "${blk[@]}" "$fetch" -q --json -n 40 -c 4 --no-keepalive \
    --cacert "$certs/ca.pem" "$secure/small.bin"
  expect_all_ok "HTTPS handshakes $how" 40 $((40 * 4096))
  expect_eq "HTTPS handshakes $how: connections" "$(json_get "$out" connections)" 40

  # io_uring demanded: no run at all.
  run "CORIO_BACKEND=io_uring $how" env CORIO_BACKEND=io_uring "$no_uring" $how "$fetch" \
    --json "$base/hello"
  expect_eq "CORIO_BACKEND=io_uring $how: exit" "$status" 1
  [ -z "$out" ] || fail "CORIO_BACKEND=io_uring $how: printed on stdout: $out"
  grep -qiE -- "$blocked" <<<"$err" ||
    fail "CORIO_BACKEND=io_uring $how: stderr does not match '$blocked': $err"
done

run "CORIO_BACKEND=bogus" env CORIO_BACKEND=bogus "$fetch" --json "$base/hello"
expect_eq "CORIO_BACKEND=bogus: exit" "$status" 1
[ -z "$out" ] || fail "CORIO_BACKEND=bogus: printed on stdout: $out"
grep -q 'CORIO_BACKEND=bogus' <<<"$err" || fail "CORIO_BACKEND=bogus: stderr does not name it: $err"

stop_server_within_10s corio-httpd
[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "test_fetch_no_uring: every check passed"
