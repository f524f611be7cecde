#!/usr/bin/env bash
# ctest "test_fetch_input" (label fetch): corio-fetch -i FILE streamed (list mode, no -n/-d),
# against corio-httpd's /hello:
#   100,000 and 1,000,000 URLs all fetched, and the million run's peak RSS (--json
#   max_rss_kb) within 8 MiB of the 100k run's: the file is not loaded whole;
#   -i - from a pipe, and from a fifo whose second half is written only after the first
#   URL's outcome was printed (the loop keeps running while stdin has nothing to read);
#   comments, blank lines, CRLF, a last line without newline; lines longer than
#   CORIO_HTTP_MAX_URL (and than the read chunk) are url errors naming FILE:LINE while the
#   others are fetched; the command line's URLs come before the file's;
#   -o with streamed duplicates gives NAME, NAME.1, NAME.2;
#   a missing -i file or a directory fails at the start naming it, a read error after it
#   says "reading FILE: ..." and exits non-zero; -n still cycles the file.
#   tests/test_fetch_input.sh PATH/TO/corio-fetch PATH/TO/corio-httpd
set -uo pipefail
fetch=${1:?usage: test_fetch_input.sh CORIO_FETCH CORIO_HTTPD}
httpd=${2:?usage: test_fetch_input.sh CORIO_FETCH CORIO_HTTPD}
tmp=$(mktemp -d)
hpid=
cleanup() {
  [ -n "$hpid" ] && kill "$hpid" 2>/dev/null && wait "$hpid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
json_get() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }
kind_count() { sed -n "s/.*\"error_kinds\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"; }
expect_eq() { # NAME GOT WANT
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# corio-httpd on a free port: its listening line is read from a fifo, so the wait ends
# when the line is written (or after 10 s).
mkfifo "$tmp/httpd.fifo"
"$httpd" --port 0 >"$tmp/httpd.fifo" 2>"$tmp/httpd.err" &
hpid=$!
exec 3<"$tmp/httpd.fifo" # kept open: the server never meets a closed pipe
IFS= read -r -t 10 line <&3
port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' <<<"${line:-}")
[ -n "$port" ] || { echo "corio-httpd did not start: $(cat "$tmp/httpd.err")" >&2; exit 1; }
h=http://127.0.0.1:$port

# run NAME ARGS...: corio-fetch -q --json ARGS (bounded); sets out, err, status.
run() {
  local name=$1
  shift
  out=$(timeout 60 "$fetch" -q --json "$@" 2>"$tmp/err")
  status=$?
  err=$(cat "$tmp/err")
  case $out in
    '{"requests":'*'}') ;;
    *) fail "$name: no JSON on stdout (exit $status): $out ${err:0:500}" ;;
  esac
}

# ---- a million URLs in the memory of 100,000 --------------------------------------------
# Lines differ (several query keys, each numbered); /hello is corio-httpd's cheapest answer.
gen() { seq "$1" | awk -v h="$h" '{ k = substr("ijkl", $1 % 4 + 1, 1); print h "/hello?" k "=" $1 }'; }
gen 100000 >"$tmp/u100k"
gen 1000000 >"$tmp/u1m"
t0=$(date +%s.%N)
run 100k -c 64 -i "$tmp/u100k"
t1=$(date +%s.%N)
expect_eq "100k: exit" "$status" 0
expect_eq "100k: ok" "$(json_get "$out" ok)" 100000
rss_100k=$(json_get "$out" max_rss_kb)
run 1m -c 64 -i "$tmp/u1m"
t2=$(date +%s.%N)
expect_eq "1m: exit" "$status" 0
expect_eq "1m: ok" "$(json_get "$out" ok)" 1000000
expect_eq "1m: requests" "$(json_get "$out" requests)" 1000000
rss_1m=$(json_get "$out" max_rss_kb)
echo "max RSS: 100k URLs ${rss_100k:-?} KB ($(awk "BEGIN{printf \"%.1f\", $t1-$t0}") s)," \
  "1M URLs ${rss_1m:-?} KB ($(awk "BEGIN{printf \"%.1f\", $t2-$t1}") s)"
if [ -z "$rss_100k" ] || [ -z "$rss_1m" ]; then
  fail "no max_rss_kb in the JSON"
elif [ "$rss_1m" -gt $((rss_100k + 8192)) ]; then
  fail "1M URLs peaked at $rss_1m KB, 100k at $rss_100k KB: more than 8 MiB apart"
fi
rm -f "$tmp/u1m"

# ---- -i - ---------------------------------------------------------------------------------
out=$(printf '%s\n' "$h/hello?p=1" "$h/hello?p=2" "$h/hello?p=3" |
  timeout 20 "$fetch" -q --json -i - 2>"$tmp/err")
expect_eq "-i - pipe: ok" "$(json_get "$out" ok)" 3

# A fifo whose writer sends the first URL, waits until corio-fetch -v has printed that
# URL's outcome (so the loop ran the request while stdin stayed open and empty), then sends
# the rest. A blocking read of stdin would never print it: the wait times out.
mkfifo "$tmp/urls.fifo" "$tmp/err.fifo"
slow_writer() {
  exec 5>"$tmp/urls.fifo"
  exec 6<"$tmp/err.fifo"
  printf '%s\n' "$h/hello?slow=1" >&5
  local first=
  IFS= read -r -t 10 first <&6
  printf '%s\n' "$first" >"$tmp/slow.first"
  printf '%s\n' "$h/hello?slow=2" "$h/hello?slow=3" >&5
  exec 5>&-
  cat <&6 >"$tmp/slow.rest"
}
slow_writer &
wpid=$!
out=$(timeout 30 "$fetch" -q --json -v -c 4 -i - <"$tmp/urls.fifo" 2>"$tmp/err.fifo")
status=$?
wait "$wpid"
expect_eq "-i - slow: exit" "$status" 0
expect_eq "-i - slow: ok" "$(json_get "$out" ok)" 3
case $(cat "$tmp/slow.first") in
  *"hello?slow=1: HTTP 200"*) ;;
  *) fail "-i - slow: the first URL was not fetched before the rest came: '$(cat "$tmp/slow.first")'" ;;
esac

# ---- comments, blanks, too-long lines, order ----------------------------------------------
long=$(head -c 9000 /dev/zero | tr '\0' a)
huge=$(head -c 70000 /dev/zero | tr '\0' b)
{
  echo "# a comment"
  echo ""
  echo "   "
  printf '  %s\t\r\n' "$h/hello?c=1"
  echo "$h/hello?long=$long"
  echo "   # an indented comment"
  echo "$h/hello?c=2"
  echo "$h/hello?huge=$huge"
  echo "$h/hello?c=3"
  printf '%s' "$h/hello?c=4"
} >"$tmp/mixed"
run mixed -c 1 -v "$h/hello?first" -i "$tmp/mixed"
expect_eq "mixed: exit" "$status" 1
expect_eq "mixed: ok" "$(json_get "$out" ok)" 5
expect_eq "mixed: errors" "$(json_get "$out" errors)" 2
expect_eq "mixed: url errors" "$(kind_count "$out" url)" 2
grep -q "corio-fetch: $tmp/mixed:5: url: the line is longer than 8192 bytes" <<<"$err" ||
  fail "mixed: no url error naming line 5: ${err:0:400}"
grep -q "corio-fetch: $tmp/mixed:8: url: " <<<"$err" || fail "mixed: no url error naming line 8"
order=$(sed -n 's|^corio-fetch: http://[^/]*/hello?\([a-z0-9=]*\): HTTP 200.*|\1|p' <<<"$err" | tr '\n' ' ')
expect_eq "mixed: order" "$order" "first c=1 c=2 c=3 c=4 "

# ---- -o with streamed duplicates ------------------------------------------------------------
printf '%s\n' "$h/hello" "$h/hello" "$h/hello" >"$tmp/dups"
run dups -c 2 -o "$tmp/out" -i "$tmp/dups"
expect_eq "dups: ok" "$(json_get "$out" ok)" 3
for name in "127.0.0.1_${port}_hello" "127.0.0.1_${port}_hello.1" "127.0.0.1_${port}_hello.2"; do
  [ "$(cat "$tmp/out/$name" 2>/dev/null)" = hello ] || fail "dups: $name missing or not 'hello'"
done
expect_eq "dups: files" "$(ls "$tmp/out" | wc -l)" 3

# ---- errors at the start; -n still loads and cycles -----------------------------------------
timeout 10 "$fetch" -q -i "$tmp/no-such-file" >/dev/null 2>"$tmp/err"
status=$?
[ "$status" != 0 ] || fail "missing -i file: exit 0"
grep -q "cannot read $tmp/no-such-file: No such file" "$tmp/err" ||
  fail "missing -i file: message does not name it: $(cat "$tmp/err")"
timeout 10 "$fetch" -q -i "$tmp" >/dev/null 2>"$tmp/err"
[ $? != 0 ] && grep -q "cannot read $tmp: Is a directory" "$tmp/err" ||
  fail "-i DIR: $(cat "$tmp/err")"
# A read that fails (at the first chunk here: /proc/self/mem at offset 0 is unmapped).
timeout 10 "$fetch" -q -i /proc/self/mem >/dev/null 2>"$tmp/err"
[ $? != 0 ] && grep -q "corio-fetch: reading /proc/self/mem: Input/output error" "$tmp/err" ||
  fail "-i read error: $(cat "$tmp/err")"
printf '%s\n' "$h/hello?n=1" "$h/hello?n=2" >"$tmp/two"
run cycle -n 7 -c 2 -i "$tmp/two"
expect_eq "-n with -i: ok" "$(json_get "$out" ok)" 7

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "all passed"
