#!/usr/bin/env bash
# ctest "test_fetch" (label fetch): corio-fetch against fetch_badserver (a server that
# misbehaves on request) and, when it is built, corio-httpd:
#   bodies (Content-Length, chunked, to end of stream) saved with -o, byte-exact;
#   keep-alive reuse counted by the server; Connection: close honoured; HEAD; -H, --method;
#   redirects followed only with --follow, bounded, relative and absolute;
#   each misbehaviour reported as its error kind in --json while good URLs in the same run
#   succeed, and one line per failing URL on stderr;
#   -o never writes outside its directory (../, %2e%2e, long names, symlinks, collisions);
#   -n and -d modes, -i FILE and -i -, retries with backoff, timeouts that bound the run,
#   SIGINT, bad flags (exit 2 with usage).
#   tests/test_fetch.sh PATH/TO/corio-fetch PATH/TO/fetch_badserver [PATH/TO/corio-httpd]
set -uo pipefail
fetch=${1:?usage: test_fetch.sh CORIO_FETCH FETCH_BADSERVER [CORIO_HTTPD]}
badserver=${2:?usage: test_fetch.sh CORIO_FETCH FETCH_BADSERVER [CORIO_HTTPD]}
httpd=${3:-}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
json_get() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }
# kinds JSON: the count of one error kind
kind_count() { sed -n "s/.*\"error_kinds\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"; }
status_count() {
  local v
  v=$(sed -n "s/.*\"status\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" <<<"$1")
  echo "${v:-0}"
}
expect_eq() { # NAME GOT WANT
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# Starts fetch_badserver; sets port and refused.
"$badserver" >"$tmp/bs.out" 2>"$tmp/bs.err" &
pids+=($!)
for _ in $(seq 100); do
  port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$tmp/bs.out")
  refused=$(sed -n 's/^refused_port \([0-9]*\)$/\1/p' "$tmp/bs.out")
  [ -n "$port" ] && [ -n "$refused" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "fetch_badserver did not start: $(cat "$tmp/bs.err")" >&2; exit 1; }
base=http://127.0.0.1:$port

# run NAME ARGS...: corio-fetch --json -q ARGS; sets out (stdout), err (stderr), status.
run() {
  local name=$1
  shift
  out=$("$fetch" -q --json "$@" 2>"$tmp/err")
  status=$?
  err=$(cat "$tmp/err")
  case $out in
    '{"requests":'*'}') ;;
    *) fail "$name: no JSON on stdout (exit $status): $out $err" ;;
  esac
}

# ---- bodies, byte-exact -------------------------------------------------------------------
mkdir "$tmp/out"
run bodies -o "$tmp/out" "$base/length/100000" "$base/chunked/100000" "$base/chunked/1" \
  "$base/length/0" "$base/eof/70000" "$base/chunked/0" "$base/hello"
expect_eq "bodies: exit" "$status" 0
expect_eq "bodies: ok" "$(json_get "$out" ok)" 7
for spec in length/100000:100000 chunked/100000:100000 chunked/1:1 length/0:0 eof/70000:70000 \
            chunked/0:0; do
  path=${spec%%:*} n=${spec##*:}
  file="$tmp/out/127.0.0.1_${port}_${path//\//_}"
  "$badserver" --pattern "$n" >"$tmp/expected"
  if [ ! -f "$file" ]; then
    fail "bodies: $path not saved as $file ($(ls "$tmp/out"))"
  elif ! cmp -s "$file" "$tmp/expected"; then
    fail "bodies: $path differs from the $n-byte pattern ($(stat -c %s "$file") bytes)"
  fi
done
[ "$(cat "$tmp/out/127.0.0.1_${port}_hello")" = hello ] || fail "bodies: /hello is not 'hello'"
expect_eq "bodies: body bytes" "$(json_get "$out" bytes)" $((100000 + 100000 + 1 + 70000 + 6))

# ---- keep-alive ---------------------------------------------------------------------------
connections_now() { # the server's connection count, fetched with a fresh corio-fetch
  local d="$tmp/stats.$RANDOM"
  "$fetch" -q -o "$d" "$base/stats" >/dev/null 2>&1
  sed -n 's/^connections \([0-9]*\) .*/\1/p' "$d"/*
}
c0=$(connections_now)
run keepalive -n 500 -c 1 "$base/hello"
expect_eq "keep-alive: requests" "$(json_get "$out" requests)" 500
expect_eq "keep-alive: connections opened" "$(json_get "$out" connections)" 1
c1=$(connections_now)
expect_eq "keep-alive: server-side connections" "$((c1 - c0))" 2 # the run + one stats fetch
run keepalive4 -n 2000 -c 4 "$base/hello" "$base/chunked/3000" "$base/length/10"
expect_eq "keep-alive -c 4: ok" "$(json_get "$out" ok)" 2000
expect_eq "keep-alive -c 4: connections" "$(json_get "$out" connections)" 4
# Fairness: every worker (connection) served; none starved while others ran.
wmin=$(sed -n 's/.*"worker_requests":{"min":\([0-9]*\),"max":\([0-9]*\)}.*/\1/p' <<<"$out")
wmax=$(sed -n 's/.*"worker_requests":{"min":\([0-9]*\),"max":\([0-9]*\)}.*/\2/p' <<<"$out")
[ -n "$wmin" ] && [ "$((wmin * 2))" -ge "$wmax" ] && [ "$wmin" -gt 0 ] ||
  fail "keep-alive -c 4: requests per worker min '$wmin', max '$wmax': a worker starved"
run close -n 20 -c 1 "$base/close"
expect_eq "Connection: close: ok" "$(json_get "$out" ok)" 20
expect_eq "Connection: close: connections" "$(json_get "$out" connections)" 20
# A server that closes kept-alive connections without saying so: the next request finds
# the connection dead before any response byte and goes again on a new one, uncounted.
run silent -n 30 -c 1 "$base/silent-close"
expect_eq "silent close: ok" "$(json_get "$out" ok)" 30
expect_eq "silent close: retries" "$(json_get "$out" retries)" 0
expect_eq "silent close: connections" "$(json_get "$out" connections)" 30
run eof -n 10 -c 2 "$base/eof/100"
expect_eq "body to EOF: ok" "$(json_get "$out" ok)" 10

# ---- HEAD, -H, --method -------------------------------------------------------------------
run head -I -n 50 -c 2 "$base/length/5000" "$base/chunked/5000"
expect_eq "HEAD: ok" "$(json_get "$out" ok)" 50
expect_eq "HEAD: body bytes" "$(json_get "$out" bytes)" 0
expect_eq "HEAD: connections" "$(json_get "$out" connections)" 2
mkdir "$tmp/echo"
run echo -o "$tmp/echo" --method PUT -H 'X-Test: yes' -H 'User-Agent: custom' "$base/echo"
echo_body=$(cat "$tmp/echo"/* 2>/dev/null)
for want in "PUT /echo HTTP/1.1" "X-Test: yes" "User-Agent: custom" "Content-Length: 0" \
            "Host: 127.0.0.1:$port"; do
  grep -qF "$want" <<<"$echo_body" || fail "-H/--method: request lacks '$want': $echo_body"
done
[ "$(grep -c 'User-Agent' <<<"$echo_body")" = 1 ] || fail "-H User-Agent did not replace the default"

# ---- redirects ----------------------------------------------------------------------------
run no-follow "$base/redirect/3"
expect_eq "no --follow: 302 counted" "$(status_count "$out" 302)" 1
expect_eq "no --follow: redirects" "$(json_get "$out" redirects)" 0
mkdir "$tmp/redir"
run follow --follow -o "$tmp/redir" "$base/redirect/3" "$base/redirect-rel/a/b" "$base/redirect-abs"
expect_eq "--follow: 200s" "$(status_count "$out" 200)" 3
expect_eq "--follow: redirects" "$(json_get "$out" redirects)" 5
[ "$(cat "$tmp/redir/127.0.0.1_${port}_redirect_3")" = redirected ] ||
  fail "--follow: the final body was not saved under the first URL's name: $(ls "$tmp/redir")"
[ "$(find "$tmp/redir" -type f | wc -l)" = 3 ] || fail "--follow: saved $(ls "$tmp/redir")"
run loop --follow --max-redirects 4 "$base/redirect-loop" "$base/redirect-https" "$base/hello"
expect_eq "redirect loop: too_many_redirects kind" "$(kind_count "$out" too_many_redirects)" 1
expect_eq "redirect to https (port 443, nothing there): refused" "$(kind_count "$out" refused)" 1
expect_eq "redirect loop: the good URL" "$(json_get "$out" ok)" 1
grep -q 'redirect-https: refused: GET https://127.0.0.1/: cannot connect to 127.0.0.1 port 443' \
  <<<"$err" || fail "redirect to https: $err"
grep -q 'more than 4 redirects' <<<"$err" || fail "redirect loop: $err"

# ---- misbehaving servers, each its own kind, the good URLs fine ---------------------------
t0=$(date +%s%N)
run bad --timeout 1 -c 16 "$base/hello" "http://127.0.0.1:$refused/" "$base/reset" \
  "$base/stall" "$base/close-mid-body" "$base/garbage" "$base/lie-long" "$base/lie-short" \
  "$base/bad-chunk" "http://no-such-host.invalid/" "https://127.0.0.1:$port/" \
  "$base/chunked/20000" "$base/status/404" "ftp://x/" "$base/length/3"
elapsed=$((($(date +%s%N) - t0) / 1000000))
expect_eq "misbehaviour: exit" "$status" 1
expect_eq "misbehaviour: ok" "$(json_get "$out" ok)" 3
expect_eq "misbehaviour: http errors" "$(json_get "$out" http_errors)" 1
expect_eq "misbehaviour: errors" "$(json_get "$out" errors)" 11
for kc in refused:1 reset:1 timeout:3 closed:1 parse:3 dns:1 url:1; do
  expect_eq "misbehaviour: ${kc%%:*}" "$(kind_count "$out" "${kc%%:*}")" "${kc##*:}"
done
for line in "$refused/: refused:" "/reset: reset:" "/stall: timeout:" "/close-mid-body: closed:" \
            "/garbage: parse:" "/lie-long: timeout:" "/lie-short: parse:" "/bad-chunk: parse:" \
            "no-such-host.invalid/: dns:" "https://127.0.0.1:$port/: timeout: GET https://127.0.0.1:$port/: " \
            "/status/404: HTTP 404" "ftp://x/: url:"; do
  grep -qF "$line" <<<"$err" || fail "misbehaviour: no '$line' line on stderr"
done
[ "$(wc -l <<<"$err")" = 12 ] || fail "misbehaviour: expected 12 stderr lines: $err"
[ "$elapsed" -lt 5000 ] || fail "misbehaviour: --timeout 1 run took ${elapsed} ms"

# The same in load mode: counted, not printed (unless -v).
run bad-load -n 200 -c 8 --timeout 1 "$base/hello" "$base/garbage" "http://127.0.0.1:$refused/"
expect_eq "load errors: requests" "$(json_get "$out" requests)" 200
expect_eq "load errors: parse" "$(kind_count "$out" parse)" 67
expect_eq "load errors: refused" "$(kind_count "$out" refused)" 66
[ -z "$err" ] || fail "load mode printed failures without -v: $err"
run bad-load-v -v -n 6 -c 2 "$base/hello" "$base/garbage"
[ "$(grep -c 'garbage: parse' <<<"$err")" = 3 ] || fail "-v: failure lines: $err"

# ---- -o stays in its directory -------------------------------------------------------------
mkdir -p "$tmp/jail/out"
long=$(printf 'x%.0s' $(seq 3000))
ln -s "$tmp/jail/victim" "$tmp/jail/out/127.0.0.1_${port}_symlinked"
run jail -o "$tmp/jail/out" "$base/../../../escape1" "$base/%2e%2e/%2e%2e/escape2" \
  "$base/a/..%2f..%2fescape3" "$base/.hidden" "$base/$long" "$base/$long/other" "$base/dup" \
  "$base/dup" "$base/dup" "$base/symlinked" "$base/.." "$base/."
expect_eq "-o jail: ok" "$(json_get "$out" ok)" 12
[ ! -e "$tmp/jail/victim" ] || fail "-o wrote through a symlink"
[ "$(find "$tmp/jail" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ] ||
  fail "-o wrote outside its directory: $(ls -a "$tmp/jail")"
[ "$(find "$tmp/jail/out" -mindepth 1 -type d | wc -l)" = 0 ] || fail "-o made subdirectories"
[ "$(find "$tmp/jail/out" -type f | wc -l)" = 12 ] ||
  fail "-o: expected 12 files: $(ls -a "$tmp/jail/out")"
for f in "$tmp/jail/out"/* "$tmp/jail/out"/.*; do
  [ -e "$f" ] || continue
  n=$(basename "$f")
  case $n in .|..) continue ;; .*) fail "-o made a hidden file '$n'" ;; esac
  [ ${#n} -le 210 ] || fail "-o name too long (${#n})"
done
for n in dup dup.1 dup.2 symlinked.1; do
  [ -f "$tmp/jail/out/127.0.0.1_${port}_$n" ] || fail "-o: no file $n: $(ls "$tmp/jail/out")"
done

# ---- -n, -d, -i ---------------------------------------------------------------------------
run n-mode -n 1000 -c 8 "$base/hello" "$base/length/100"
expect_eq "-n: requests" "$(json_get "$out" requests)" 1000
expect_eq "-n: bytes" "$(json_get "$out" bytes)" $((500 * 6 + 500 * 100))
run d-mode -d 1 -c 8 "$base/hello"
secs=$(json_get "$out" seconds)
awk -v s="$secs" 'BEGIN { exit !(s >= 0.9 && s < 2) }' || fail "-d 1 ran $secs s"
[ "$(json_get "$out" errors)" = 0 ] || fail "-d 1: errors: $out"
[ "$(json_get "$out" requests)" -gt 100 ] || fail "-d 1: too few requests: $out"
# A stalled server does not stretch -d: requests in flight at the end are cancelled.
run d-stall -d 1 -c 4 --timeout 30 "$base/stall"
secs=$(json_get "$out" seconds)
awk -v s="$secs" 'BEGIN { exit !(s >= 0.9 && s < 2) }' || fail "-d 1 on a stalled server ran $secs s"
expect_eq "-d 1 on a stalled server: exit" "$status" 1
grep -q "no request completed in the 1.* s run" <<<"$err" || fail "-d stalled: no message: $err"
# Past the open-file limit: a warning at the start, the connections capped below the limit
# (200 - 50 kept for other files), and every request made over the ones that could open.
out=$(prlimit --nofile=200:200 "$fetch" -q --json -n 600 -c 300 "$base/hello" 2>"$tmp/err")
status=$?
err=$(cat "$tmp/err")
expect_eq "fd limit: exit" "$status" 0
expect_eq "fd limit: ok" "$(json_get "$out" ok)" 600
conns=$(json_get "$out" connections)
[ "${conns:-0}" -ge 1 ] && [ "${conns:-0}" -le 150 ] || fail "fd limit: $conns connections opened, want 1..150"
grep -q "300 connections need 364 open files, but the open-file limit is 200 .*at most 150 connections" \
  <<<"$err" || fail "fd limit: no plain warning: $err"
printf '%s\n' "# a comment" "$base/hello" "" "  $base/length/7  " >"$tmp/urls"
run input-file -i "$tmp/urls"
expect_eq "-i FILE: ok" "$(json_get "$out" ok)" 2
out=$(printf '%s\n' "$base/hello" "$base/hello" "$base/hello" | "$fetch" -q --json -i - 2>&1)
expect_eq "-i -: ok" "$(json_get "$out" ok)" 3

# ---- retries, timeouts ----------------------------------------------------------------------
run flaky --retries 2 "$base/flaky/a/2"
expect_eq "retries after 5xx: status" "$(status_count "$out" 200)" 1
expect_eq "retries after 5xx: retries" "$(json_get "$out" retries)" 2
run flaky-short --retries 1 "$base/flaky/b/2"
expect_eq "too few retries: 503 kept" "$(status_count "$out" 503)" 1
t0=$(date +%s%N)
run refused-retries --retries 2 "http://127.0.0.1:$refused/"
elapsed=$((($(date +%s%N) - t0) / 1000000))
expect_eq "retries after refused: kind" "$(kind_count "$out" refused)" 1
expect_eq "retries after refused: retries" "$(json_get "$out" retries)" 2
[ "$elapsed" -ge 200 ] || fail "retries came without backoff (${elapsed} ms for 2)"
t0=$(date +%s%N)
run timeout --timeout 1 -c 4 "$base/stall" "$base/stall" "$base/stall" "$base/lie-long"
elapsed=$((($(date +%s%N) - t0) / 1000000))
expect_eq "--timeout 1: timeouts" "$(kind_count "$out" timeout)" 4
[ "$elapsed" -lt 3000 ] || fail "--timeout 1 took ${elapsed} ms"

# ---- SIGINT --------------------------------------------------------------------------------
"$fetch" -q --json -d 30 -c 4 "$base/hello" >"$tmp/int.out" 2>&1 &
ipid=$!
sleep 0.5
kill -INT "$ipid"
wait "$ipid"
istatus=$?
expect_eq "SIGINT: exit" "$istatus" 130
grep -q '"interrupted":true' "$tmp/int.out" || fail "SIGINT: no summary: $(cat "$tmp/int.out")"

# ---- bad usage -----------------------------------------------------------------------------
for bad in "-c 0 $base/" "-c x $base/" "--bogus $base/" "-n" "--timeout x $base/" \
           "-H bad $base/" "" "--json=1 $base/" "--method G@T $base/" "-d 0 $base/" \
           "--retries 101 $base/"; do
  # shellcheck disable=SC2086  # the flags are several words on purpose
  "$fetch" $bad >/dev/null 2>"$tmp/usage"
  s=$?
  [ "$s" = 2 ] || fail "corio-fetch $bad exited $s, not 2"
  grep -q usage "$tmp/usage" || fail "corio-fetch $bad printed no usage"
done
"$fetch" --help | grep -q usage || fail "--help printed no usage"
"$fetch" -i "$tmp/no-such-file" >/dev/null 2>&1
[ $? = 1 ] || fail "-i of a missing file should exit 1"

# ---- corio-httpd, when built ---------------------------------------------------------------
if [ -n "$httpd" ] && [ -x "$httpd" ]; then
  mkdir -p "$tmp/www/sub"
  head -c 300000 /dev/urandom >"$tmp/www/big.bin"
  head -c 1 /dev/urandom >"$tmp/www/one.bin"
  : >"$tmp/www/empty.txt"
  echo index >"$tmp/www/sub/index.html"
  "$httpd" --port 0 --root "$tmp/www" >"$tmp/httpd.out" 2>"$tmp/httpd.err" &
  pids+=($!)
  hport=
  for _ in $(seq 100); do
    hport=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$tmp/httpd.out")
    [ -n "$hport" ] && break
    sleep 0.05
  done
  if [ -z "$hport" ]; then
    fail "corio-httpd did not start: $(cat "$tmp/httpd.err")"
  else
    h=http://127.0.0.1:$hport
    mkdir "$tmp/hout"
    run httpd-files -o "$tmp/hout" --follow "$h/big.bin" "$h/one.bin" "$h/empty.txt" "$h/sub" \
      "$h/hello" "$h/missing"
    expect_eq "httpd: ok" "$(json_get "$out" ok)" 5
    expect_eq "httpd: 404" "$(status_count "$out" 404)" 1
    for f in big.bin one.bin empty.txt; do
      cmp -s "$tmp/www/$f" "$tmp/hout/127.0.0.1_${hport}_${f}" || fail "httpd: $f differs"
    done
    [ "$(cat "$tmp/hout/127.0.0.1_${hport}_sub")" = index ] || fail "httpd: /sub not followed"
    run httpd-load -n 20000 -c 32 "$h/hello"
    expect_eq "httpd load: ok" "$(json_get "$out" ok)" 20000
    expect_eq "httpd load: connections" "$(json_get "$out" connections)" 32
  fi
else
  echo "corio-httpd not built: its part skipped"
fi

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "corio-fetch: every check passed"
