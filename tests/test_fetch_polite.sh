#!/usr/bin/env bash
# ctest "test_fetch_polite" (label fetch): corio-fetch's politeness and name flags against
# tests/fetch_polite_server.py, which logs each request's arrival time and the connections
# open at once:
#   --per-host 2 with -c 8 never has more than 2 connections open (and without it, 8 open:
#   the server would see a broken cap);
#   --host-rate 20 spaces 11 requests over at least 500 ms, and counts host_waits;
#   a 429 with Retry-After: 1 is retried no sooner than 1 s later (retry_after 1), and with
#   --retry-after-max 0.2 it is final (exit 1);
#   --resolve NAME:PORT:DEAD,LIVE reaches the server through the refusing address with no
#   lookup; --dns-ttl: localhost looked up once for 3 connections by default, 3 times with 0;
#   bad values of each flag are usage errors (exit 2) that say what was wrong.
#   tests/test_fetch_polite.sh PATH/TO/corio-fetch
set -uo pipefail
fetch=${1:?usage: test_fetch_polite.sh CORIO_FETCH}
here=$(cd "$(dirname "$0")" && pwd)
command -v python3 >/dev/null || { echo "SKIP: python3 is needed for the server"; exit 77; }
source "$here/server_lib.sh"

start_polite() { # starts the server (killed by cleanup), sets pid, port and its log
  start_server python3 "$here/fetch_polite_server.py" --port 0
  log="$tmp/out.$starts"
}
stop_polite() {
  kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  pid=
}

# run NAME ARGS...: corio-fetch -q --json ARGS (bounded); sets out, status.
run() {
  local name=$1
  shift
  out=$(timeout 60 "$fetch" -q --json "$@" 2>"$tmp/ferr")
  status=$?
  case $out in
    '{"requests":'*'}') ;;
    *) fail "$name: no JSON on stdout (exit $status): $out $(cat "$tmp/ferr")" ;;
  esac
}
get() { sed -n "s/^\(.*[{,]\)\{0,1\}\"$1\":\([^,}]*\).*/\2/p" <<<"$out"; }
check() { # NAME AWK_CONDITION -v ...
  local name=$1 cond=$2
  shift 2
  awk "$@" "BEGIN { exit !($cond) }" || fail "$name"
}
max_open() { awk '$1 == "REQ" && $5 > m { m = $5 } END { print m + 0 }' "$log"; }
# The seconds between the first and the last request for PATH.
span() { awk -v p="$1" '$1 == "REQ" && $3 == p { if (!n++) a = $2; b = $2 } END { printf "%.3f", b - a }' "$log"; }

# ---- --per-host: the cap holds, and without it the connections do open ----------------
start_polite per-host
url=http://127.0.0.1:$port/slow
run per-host --per-host 2 -c 8 -n 40 "$url"
[ "$(get ok)" = 40 ] || fail "--per-host 2: not all 40 requests succeeded: $out"
m=$(max_open)
echo "--per-host 2 -c 8: at most $m connections open"
[ "$m" -le 2 ] || fail "--per-host 2: the server saw $m connections at once"
stop_polite
start_polite no-cap
url=http://127.0.0.1:$port/slow
run no-cap -c 8 -n 40 "$url"
m=$(max_open)
[ "$m" = 8 ] || fail "-c 8 without --per-host: the server saw $m connections at once, want 8"
stop_polite

# ---- --host-rate: spacing per host ------------------------------------------------------
start_polite host-rate
run host-rate --host-rate 20 -c 4 -n 11 "http://127.0.0.1:$port/rated"
s=$(span /rated)
echo "--host-rate 20: 11 requests over $s s, $(get host_waits) waited"
[ "$(get ok)" = 11 ] || fail "--host-rate: not all 11 requests succeeded: $out"
check "--host-rate 20: 11 requests came within $s s, 10 gaps of 50 ms need 0.5" 's >= 0.45' -v s="$s"
check "--host-rate 20: host_waits $(get host_waits) with 4 connections at once" 'w >= 3' \
  -v w="$(get host_waits)"

# ---- Retry-After on 429 -------------------------------------------------------------------
run retry-after --retries 1 "http://127.0.0.1:$port/busy?a"
s=$(span /busy)
echo "429 Retry-After: 1: retried after $s s"
[ "$status" = 0 ] && [ "$(get ok)" = 1 ] || fail "Retry-After: the retry did not succeed: $out"
[ "$(get retry_after)" = 1 ] || fail "Retry-After: retry_after is not 1: $out"
check "Retry-After: 1: the retry came after $s s" 's >= 0.99' -v s="$s"
run retry-after-max --retries 1 --retry-after-max 0.2 "http://127.0.0.1:$port/busy?b"
[ "$status" = 1 ] || fail "--retry-after-max 0.2: exit $status, want 1 (the 429 final)"
case $out in *'"status":{"429":1}'*) ;; *) fail "--retry-after-max 0.2: not one 429: $out" ;; esac
[ "$(get retry_after)" = 0 ] || fail "--retry-after-max 0.2: a Retry-After was honoured: $out"

# ---- --resolve and --dns-ttl ------------------------------------------------------------
# 127.0.0.9 refuses (the server listens on 127.0.0.1 only): the race moves on at once.
run resolve --resolve "polite.test:$port:127.0.0.9,127.0.0.1" --connect-timeout 5 \
  "http://polite.test:$port/pinned"
[ "$status" = 0 ] && [ "$(get ok)" = 1 ] || fail "--resolve: the live address was not reached: $out"
[ "$(get dns_lookups)" = 0 ] || fail "--resolve: a pinned name was looked up: $out"
[ "$(grep -c ' /pinned ' "$log")" = 1 ] || fail "--resolve: the server did not see /pinned once"
run resolve-any --resolve "polite.test:*:127.0.0.1" "http://polite.test:$port/pinned"
[ "$(get ok)" = 1 ] || fail "--resolve with port *: $out"
run ttl-default --no-keepalive -c 1 -n 3 "http://localhost:$port/ttl"
[ "$(get connections)" = 3 ] && [ "$(get dns_lookups)" = 1 ] ||
  fail "--dns-ttl default: 3 connections should share one lookup: $out"
run ttl-zero --dns-ttl 0 --no-keepalive -c 1 -n 3 "http://localhost:$port/ttl"
[ "$(get connections)" = 3 ] && [ "$(get dns_lookups)" = 3 ] ||
  fail "--dns-ttl 0: each of 3 connections should look localhost up: $out"
stop_polite

# ---- usage errors -------------------------------------------------------------------------
usage_error() { # WHAT EXPECTED_MESSAGE ARGS...
  local what=$1 want=$2
  shift 2
  "$fetch" -q "$@" http://127.0.0.1:1/ >/dev/null 2>"$tmp/ferr"
  local st=$?
  [ "$st" = 2 ] || fail "$what: exit $st, want 2"
  grep -qF -- "$want" "$tmp/ferr" || fail "$what: stderr lacks '$want': $(head -1 "$tmp/ferr")"
}
usage_error "--per-host 0" "--per-host needs a number" --per-host 0
usage_error "--host-rate -1" "--host-rate needs a number" --host-rate -1
usage_error "--host-rate nan" "--host-rate needs a number" --host-rate nan
usage_error "--retry-after-max 0" "--retry-after-max needs" --retry-after-max 0
usage_error "--dns-ttl x" "--dns-ttl needs" --dns-ttl x
usage_error "--resolve a" "is not HOST:PORT:ADDR" --resolve a
usage_error "--resolve :80:1.2.3.4" "is not HOST:PORT:ADDR" --resolve :80:1.2.3.4
usage_error "--resolve port" "the port is not a number" --resolve a:70000:1.2.3.4
usage_error "--resolve name" "'example.com' is not a numeric" --resolve a:80:1.2.3.4,example.com
usage_error "--resolve empty" "'' is not a numeric" --resolve a:80:
usage_error "--resolve nine" "at most 8 addresses" \
  --resolve a:80:127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,::1,::2

[ "$failures" = 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "test_fetch_polite: all passed"
