#!/usr/bin/env bash
# ctest "test_fetch_proxy" (label fetch): corio-fetch through real forward proxies, Debian's
# tinyproxy, that the test starts on free 127.0.0.1 ports with configurations of its own
# (its system service, if any, is left alone), in front of fetch_badserver (whose /echo
# shows the request head that reached it) and corio-httpd over HTTPS with the tls_certs
# fixture's certificates (CORIO_TEST_CERTS):
#   plain http through the proxy (its log names the absolute-form request, the origin sees
#   its Via field); https through CONNECT (the proxy's log names it), and a CONNECT the
#   proxy forbids reported as a proxy error; BasicAuth: right credentials (percent-encoded
#   ones too) pass, missing and wrong ones fail with a clear error and exit 1, and no
#   password is ever printed; http_proxy, https_proxy, all_proxy used, HTTP_PROXY not, and
#   no_proxy / NO_PROXY / --noproxy honoured (the request goes direct: the proxy's log is
#   unchanged); --proxy "" and bad proxies from the environment; rotation over three
#   proxies from --proxy-file of which one refuses connections: every request succeeds, the
#   dead one is named as taken out, and the per-proxy counts add up and match the proxies'
#   own logs; --proxy-file errors naming the line.
#   tests/test_fetch_proxy.sh PATH/TO/corio-fetch PATH/TO/fetch_badserver PATH/TO/corio-httpd
# Exits 77 (skipped) when tinyproxy, python3 or corio-httpd is missing.
set -uo pipefail
fetch=${1:?usage: test_fetch_proxy.sh CORIO_FETCH FETCH_BADSERVER CORIO_HTTPD}
badserver=${2:?usage: test_fetch_proxy.sh CORIO_FETCH FETCH_BADSERVER CORIO_HTTPD}
httpd=${3:?usage: test_fetch_proxy.sh CORIO_FETCH FETCH_BADSERVER CORIO_HTTPD}
certs=${CORIO_TEST_CERTS:?set CORIO_TEST_CERTS (the tls_certs fixture)}
TINYPROXY=${TINYPROXY:-$(command -v tinyproxy || { [ -x /usr/bin/tinyproxy ] && echo /usr/bin/tinyproxy; } || true)}
[ -n "$TINYPROXY" ] || { echo "SKIP: tinyproxy is not installed (.ci/deps installs it)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed (.ci/deps)"; exit 77; }
[ -x "$httpd" ] || { echo "SKIP: corio-httpd is not built next to corio-fetch"; exit 77; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
expect_in() { [[ $2 == *"$3"* ]] || fail "$1: '$3' not in: $2"; }
expect_not_in() { [[ $2 != *"$3"* ]] || fail "$1: '$3' should not be in: $2"; }
json_get() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }
kind_count() { sed -n "s/.*\"error_kinds\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"; }
status_count() {
  local v
  v=$(sed -n "s/.*\"status\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" <<<"$1")
  echo "${v:-0}"
}
# proxy_field JSON PORT FIELD: a counter of the proxy on 127.0.0.1:PORT in the JSON ("none"
# when it is not listed).
proxy_field() {
  local entry v
  entry=$(sed -n "s|.*{\"url\":\"http://127\.0\.0\.1:$2\",\([^}]*\)}.*|\1|p" <<<"$1")
  v=$(sed -n "s/.*\"$3\":\([0-9]*\).*/\1/p" <<<"$entry")
  echo "${v:-none}"
}
free_ports() {
  python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
wait_port() { # PORT PID: until PORT accepts a connection (or PID died)
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# ---- the origins --------------------------------------------------------------------------
"$badserver" >"$tmp/bs.out" 2>"$tmp/bs.err" &
pids+=($!)
"$httpd" --port 0 --tls-port 0 --cert "$certs/server.pem" --key "$certs/server.key" \
  >"$tmp/httpd.out" 2>"$tmp/httpd.err" &
pids+=($!)
port= dead= https= hplain=
for _ in $(seq 200); do
  port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$tmp/bs.out")
  dead=$(sed -n 's/^refused_port \([0-9]*\)$/\1/p' "$tmp/bs.out")
  https=$(sed -n 's|^listening on https://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$tmp/httpd.out")
  hplain=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)$|\1|p' "$tmp/httpd.out")
  [ -n "$port" ] && [ -n "$dead" ] && [ -n "$https" ] && [ -n "$hplain" ] && break
  sleep 0.05
done
[ -n "$port" ] && [ -n "$dead" ] || { echo "fetch_badserver did not start: $(cat "$tmp/bs.err")" >&2; exit 1; }
[ -n "$https" ] && [ -n "$hplain" ] || { echo "corio-httpd did not start: $(cat "$tmp/httpd.err")" >&2; exit 1; }
base=http://127.0.0.1:$port
secure=https://localhost:$https

# ---- the proxies: p1 and p2 open, pa with BasicAuth -----------------------------------------
read -r p1 p2 pa <<<"$(free_ports 3)"
start_proxy() { # NAME PORT [CONFIG LINES...]
  local name=$1 p=$2
  shift 2
  {
    echo "Port $p"
    echo "Listen 127.0.0.1"
    echo "Timeout 30"
    echo "MaxClients 100"
    echo "LogFile \"$tmp/$name.log\""
    echo "LogLevel Info"
    echo "ConnectPort $https" # CONNECT only there: other ports are refused (403)
    printf '%s\n' "$@"
  } >"$tmp/$name.conf"
  : >"$tmp/$name.log"
  "$TINYPROXY" -d -c "$tmp/$name.conf" >"$tmp/$name.out" 2>&1 &
  pids+=($!)
  wait_port "$p" $! || { echo "tinyproxy $name did not start: $(cat "$tmp/$name.out" "$tmp/$name.log")" >&2; exit 1; }
}
start_proxy p1 "$p1"
start_proxy p2 "$p2"
start_proxy pa "$pa" "BasicAuth alice s3cret" "BasicAuth bob pa.ss-1"
# requests NAME: how many requests the proxy's log names so far (plain ones and CONNECTs).
requests() { grep -c 'Request (file descriptor' "$tmp/$1.log"; }
connects() { grep -c "Request (file descriptor [0-9]*): CONNECT $2 " "$tmp/$1.log"; }

# run NAME ARGS...: corio-fetch --json -q ARGS; sets out (stdout), err (stderr), status.
run() {
  local name=$1
  shift
  out=$("$fetch" -q --json --timeout 10 "$@" 2>"$tmp/err")
  status=$?
  err=$(cat "$tmp/err")
  case $out in
    '{"requests":'*'}') ;;
    *) fail "$name: no JSON on stdout (exit $status): $out $err" ;;
  esac
}

# ---- plain http through the proxy ------------------------------------------------------------
mkdir "$tmp/direct" "$tmp/via"
run direct -o "$tmp/direct" "$base/echo"
expect_eq "direct: exit" "$status" 0
expect_not_in "direct: the origin saw no proxy" "$(cat "$tmp/direct"/*)" "tinyproxy"
expect_eq "direct: no proxies" "$(sed -n 's/.*"proxies":\(\[[^]]*\]\).*/\1/p' <<<"$out")" "[]"
r0=$(requests p1)
run http-via -o "$tmp/via" -x "http://127.0.0.1:$p1" "$base/echo"
expect_eq "http via proxy: exit" "$status" 0
expect_eq "http via proxy: ok" "$(json_get "$out" ok)" 1
expect_in "http via proxy: the origin saw the proxy" "$(cat "$tmp/via"/*)" "tinyproxy"
expect_eq "http via proxy: the proxy's requests" "$(($(requests p1) - r0))" 1
expect_in "http via proxy: absolute form" "$(cat "$tmp/p1.log")" "GET http://127.0.0.1:$port/echo HTTP/1.1"
expect_eq "http via proxy: counted" "$(proxy_field "$out" "$p1" requests)" 1
run http-via-load -n 200 -c 8 -x "127.0.0.1:$p1" "$base/hello"
expect_eq "http via proxy, -n 200: ok" "$(json_get "$out" ok)" 200
expect_eq "http via proxy, -n 200: counted" "$(proxy_field "$out" "$p1" requests)" 200

# ---- https through CONNECT ---------------------------------------------------------------------
c0=$(connects p1 "localhost:$https")
run https-via --cacert "$certs/ca.pem" -x "http://127.0.0.1:$p1" "$secure/hello" \
  "https://127.0.0.1:$https/hello"
expect_eq "https via CONNECT: exit" "$status" 0
expect_eq "https via CONNECT: ok" "$(json_get "$out" ok)" 2
expect_eq "https via CONNECT: the proxy's CONNECTs" "$(($(connects p1 "localhost:$https") - c0))" 1
expect_eq "https via CONNECT: handshakes" "$(json_get "$out" tls_handshakes)" 2
run https-via-load --cacert "$certs/ca.pem" -n 100 -c 4 -x "http://127.0.0.1:$p1" "$secure/hello"
expect_eq "https via CONNECT, -n 100: ok" "$(json_get "$out" ok)" 100
expect_eq "https via CONNECT, -n 100: tunnels kept alive" "$(json_get "$out" connections)" 4
# The proxy forbids CONNECT to another port: a proxy error naming it and its answer.
run https-forbidden --cacert "$certs/ca.pem" -x "http://127.0.0.1:$p1" "https://127.0.0.1:$hplain/"
expect_eq "CONNECT forbidden: exit" "$status" 1
expect_eq "CONNECT forbidden: kind" "$(kind_count "$out" proxy)" 1
expect_in "CONNECT forbidden: message" "$err" "proxy http://127.0.0.1:$p1 answered CONNECT 127.0.0.1:$hplain with 403"

# ---- proxy authentication ------------------------------------------------------------------------
run auth-ok --cacert "$certs/ca.pem" -x "http://alice:s3cret@127.0.0.1:$pa" "$base/hello" "$secure/hello"
expect_eq "auth right: exit ($err)" "$status" 0
expect_eq "auth right: ok" "$(json_get "$out" ok)" 2
run auth-encoded --cacert "$certs/ca.pem" -x "http://b%6Fb:pa%2Ess-1@127.0.0.1:$pa" "$base/hello" "$secure/hello"
expect_eq "auth percent-encoded: exit ($err)" "$status" 0
run auth-missing --cacert "$certs/ca.pem" -x "http://127.0.0.1:$pa" "$base/hello" "$secure/hello"
expect_eq "auth missing: exit" "$status" 1
expect_eq "auth missing: proxy errors" "$(kind_count "$out" proxy)" 2
expect_in "auth missing: message" "$err" "proxy http://127.0.0.1:$pa asks for credentials (407 Proxy Authentication Required)"
expect_eq "auth missing: counted" "$(proxy_field "$out" "$pa" errors)" 2
# tinyproxy answers wrong credentials with 401: to CONNECT, a proxy error; to a plain
# request, the response (from the proxy, not the origin, which never saw it).
run auth-wrong --cacert "$certs/ca.pem" -x "http://alice:wrong@127.0.0.1:$pa" "$base/echo" "$secure/hello"
expect_eq "auth wrong: exit" "$status" 1
expect_eq "auth wrong: CONNECT refused" "$(kind_count "$out" proxy)" 1
expect_in "auth wrong: message" "$err" "proxy http://127.0.0.1:$pa refused the credentials (401 Unauthorized)"
expect_eq "auth wrong: plain http answered by the proxy" "$(status_count "$out" 401)" 1
summary=$("$fetch" -q --timeout 10 --cacert "$certs/ca.pem" -x "http://alice:wrong@127.0.0.1:$pa" \
  "$secure/hello" 2>&1)
for text in "$out" "$err" "$summary"; do
  expect_not_in "no password printed" "$text" "wrong"
  expect_not_in "no password printed" "$text" "s3cret"
done
expect_in "summary names the proxy" "$summary" "proxy http://127.0.0.1:$pa: 1 requests, 1 errors"

# ---- the environment, as curl reads it -------------------------------------------------------------
env_run() { # NAME VAR=VALUE... -- ARGS...
  local name=$1 vars=()
  shift
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  out=$(env -u http_proxy -u HTTP_PROXY -u https_proxy -u HTTPS_PROXY -u all_proxy -u ALL_PROXY \
    -u no_proxy -u NO_PROXY "${vars[@]}" "$fetch" -q --json --timeout 10 --cacert "$certs/ca.pem" \
    "$@" 2>"$tmp/err")
  status=$?
  err=$(cat "$tmp/err")
  [[ $out == '{"requests":'*'}' ]] || fail "$name: no JSON (exit $status): $out $err"
}
r0=$(requests p1)
env_run http_proxy "http_proxy=http://127.0.0.1:$p1" -- "$base/hello"
expect_eq "http_proxy: exit" "$status" 0
expect_eq "http_proxy: through p1" "$(($(requests p1) - r0))" 1
r0=$(requests p1)
env_run HTTP_PROXY "HTTP_PROXY=http://127.0.0.1:$p1" -- "$base/hello"
expect_eq "HTTP_PROXY: exit" "$status" 0
expect_eq "HTTP_PROXY is not read" "$(($(requests p1) - r0))" 0
c0=$(connects p2 "localhost:$https")
r0=$(requests p2)
env_run https_proxy "https_proxy=http://127.0.0.1:$p2" -- "$secure/hello" "$base/hello"
expect_eq "https_proxy: exit" "$status" 0
expect_eq "https_proxy: the https URL through p2" "$(($(connects p2 "localhost:$https") - c0))" 1
expect_eq "https_proxy: the http URL direct" "$(($(requests p2) - r0))" 1
c0=$(connects p2 "localhost:$https")
env_run HTTPS_PROXY "HTTPS_PROXY=http://127.0.0.1:$p2" -- "$secure/hello"
expect_eq "HTTPS_PROXY: through p2" "$(($(connects p2 "localhost:$https") - c0))" 1
r0=$(requests p1)
env_run all_proxy "all_proxy=http://127.0.0.1:$p1" -- "$base/hello" "$secure/hello"
expect_eq "all_proxy: both through p1" "$(($(requests p1) - r0))" 2
# no_proxy: the request goes direct, the proxy's log is unchanged.
r0=$(requests p1)
env_run no_proxy "http_proxy=http://127.0.0.1:$p1" "no_proxy=example.org, 127.0.0.1" -- "$base/hello"
expect_eq "no_proxy: exit" "$status" 0
expect_eq "no_proxy: direct" "$(($(requests p1) - r0))" 0
expect_eq "no_proxy: counted nowhere" "$(proxy_field "$out" "$p1" requests)" 0
r0=$(requests p2)
env_run NO_PROXY "https_proxy=http://127.0.0.1:$p2" "NO_PROXY=.LOCALHOST" -- "$secure/hello"
expect_eq "NO_PROXY: exit" "$status" 0
expect_eq "NO_PROXY: direct" "$(($(requests p2) - r0))" 0
r0=$(requests p1)
env_run no_proxy-cidr "http_proxy=http://127.0.0.1:$p1" "no_proxy=10.0.0.0/8,127.0.0.0/8" -- "$base/hello"
expect_eq "no_proxy CIDR: direct" "$(($(requests p1) - r0))" 0
r0=$(requests p1)
env_run noproxy-flag "http_proxy=http://127.0.0.1:$p1" -- --noproxy '*' "$base/hello"
expect_eq "--noproxy '*': direct" "$(($(requests p1) - r0))" 0
env_run noproxy-flag-other "http_proxy=http://127.0.0.1:$p1" "no_proxy=127.0.0.1" -- --noproxy "" "$base/hello"
expect_eq "--noproxy '' overrides no_proxy: through p1" "$(proxy_field "$out" "$p1" requests)" 1
env_run proxy-empty "http_proxy=http://127.0.0.1:$dead" -- --proxy "" "$base/hello"
expect_eq "--proxy '': the environment's dead proxy not used" "$status" 0
env_run proxy-flag-wins "http_proxy=http://127.0.0.1:$dead" -- -x "http://127.0.0.1:$p1" "$base/hello"
expect_eq "-x over http_proxy: exit" "$status" 0
err=$(env http_proxy="socks5://user:s3cret@127.0.0.1:1" "$fetch" -q "$base/hello" 2>&1)
expect_eq "bad http_proxy: exit" "$?" 1
expect_in "bad http_proxy: message" "$err" "the proxy in the environment for http URLs: SOCKS proxies are not supported"
expect_not_in "bad http_proxy: no password" "$err" "s3cret"

# ---- rotation over three proxies, one refusing connections ------------------------------------------
cat >"$tmp/proxies.txt" <<EOF
# three proxies, used in turn; the second refuses connections

http://127.0.0.1:$p1
   127.0.0.1:$dead
http://127.0.0.1:$p2/
EOF
r1=$(requests p1) r2=$(requests p2)
run rotation --proxy-file "$tmp/proxies.txt" -n 90 -c 4 "$base/hello"
expect_eq "rotation: exit ($err)" "$status" 0
expect_eq "rotation: ok" "$(json_get "$out" ok)" 90
expect_eq "rotation: errors" "$(json_get "$out" errors)" 0
expect_eq "rotation: retries" "$(json_get "$out" retries)" 0
n1=$(proxy_field "$out" "$p1" requests) n2=$(proxy_field "$out" "$p2" requests)
nd=$(proxy_field "$out" "$dead" requests)
expect_eq "rotation: the dead proxy's requests all failed" "$(proxy_field "$out" "$dead" errors)" "$nd"
expect_eq "rotation: its failures were connections" "$(proxy_field "$out" "$dead" conn_failures)" "$nd"
expect_eq "rotation: it was taken out once" "$(proxy_field "$out" "$dead" backoffs)" 1
[ "$nd" -ge 3 ] && [ "$nd" -le 8 ] || fail "rotation: the dead proxy got $nd requests (3, plus at most the others in flight)"
expect_eq "rotation: p1 and p2 without errors" \
  "$(proxy_field "$out" "$p1" errors)$(proxy_field "$out" "$p2" errors)" 00
expect_eq "rotation: the live ones carried every request" "$((n1 + n2))" 90
[ "$n1" -ge 40 ] && [ "$n2" -ge 40 ] || fail "rotation: not in turn: $n1 and $n2"
expect_eq "rotation: p1's own log agrees" "$(($(requests p1) - r1))" "$n1"
expect_eq "rotation: p2's own log agrees" "$(($(requests p2) - r2))" "$n2"
summary=$("$fetch" -q --timeout 10 --proxy-file "$tmp/proxies.txt" -n 30 -c 2 "$base/hello" 2>&1)
expect_eq "rotation summary: exit" "$?" 0
expect_in "rotation summary: the dead proxy named" "$summary" \
  "proxy http://127.0.0.1:$dead was taken out 1 time (3 consecutive connection failures)"
expect_in "rotation summary: p1's line" "$summary" "proxy http://127.0.0.1:$p1: "
run rotation-https --cacert "$certs/ca.pem" --proxy-file "$tmp/proxies.txt" --proxy-failures 2 \
  -n 40 -c 4 "$secure/hello"
expect_eq "rotation https: ok ($err)" "$(json_get "$out" ok)" 40
expect_eq "rotation https: taken out after 2" "$(proxy_field "$out" "$dead" backoffs)" 1
# The dead one alone: the error names it.
run dead-alone -x "http://127.0.0.1:$dead" "$base/hello"
expect_eq "dead proxy alone: exit" "$status" 1
expect_eq "dead proxy alone: kind" "$(kind_count "$out" refused)" 1
expect_in "dead proxy alone: message" "$err" "proxy http://127.0.0.1:$dead refused the connection"

# ---- bad proxy options --------------------------------------------------------------------------------
printf '# one good, one bad\nhttp://127.0.0.1:%s\nhttp://alice:s3cret@127.0.0.1:0\n' "$p1" >"$tmp/bad.txt"
err=$("$fetch" -q --proxy-file "$tmp/bad.txt" "$base/hello" 2>&1)
expect_eq "bad --proxy-file: exit" "$?" 2
expect_in "bad --proxy-file: the line" "$err" "$tmp/bad.txt:3: the proxy port must be a number from 1 to 65535"
expect_not_in "bad --proxy-file: no password" "$err" "s3cret"
printf '# nothing\n\n' >"$tmp/empty.txt"
err=$("$fetch" -q --proxy-file "$tmp/empty.txt" "$base/hello" 2>&1)
expect_eq "empty --proxy-file: exit" "$?" 2
expect_in "empty --proxy-file: message" "$err" "holds no proxy URL"
err=$("$fetch" -q --proxy-file "$tmp/missing.txt" "$base/hello" 2>&1)
expect_eq "missing --proxy-file: exit" "$?" 2
err=$("$fetch" -q -x "https://127.0.0.1:$p1" "$base/hello" 2>&1)
expect_eq "https:// proxy: exit" "$?" 2
expect_in "https:// proxy: message" "$err" "https:// proxies (TLS to the proxy) are not supported"
err=$("$fetch" -q -x $'http://a:b\r\n@127.0.0.1:1' "$base/hello" 2>&1)
expect_eq "CR/LF in a proxy URL: exit" "$?" 2
expect_in "CR/LF in a proxy URL: message" "$err" "control character"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "corio-fetch through tinyproxy: every check passed"
