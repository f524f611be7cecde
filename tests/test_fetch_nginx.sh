#!/usr/bin/env bash
# ctest "test_fetch_nginx" (label fetch): corio-fetch against a real nginx (Debian's
# nginx-light) that the test starts on free 127.0.0.1 ports with the throw-away
# certificates of tests/make_certs.sh (the tls_certs fixture, CORIO_TEST_CERTS):
#   HTTPS verified against the test CA (--cacert), and refused with the stated message for
#   the system store, a wrong host name, an expired certificate and an untrusted CA;
#   -k connecting anyway with a warning; gzip bodies decoded with --compressed, byte-exact;
#   a redirect chain; a cross-origin redirect (127.0.0.1 -> localhost) that reaches the
#   second origin without Authorization, Cookie, Proxy-Authorization or the caller's Host,
#   while a same-origin one keeps them; request bodies (--data, --data-file); TLS session
#   resumption with a connection per request; three origins at -c 64 opening at most
#   3 x 64 connections.
#   tests/test_fetch_nginx.sh PATH/TO/corio-fetch
# Exits 77 (skipped) when nginx is not installed.
set -uo pipefail
fetch=${1:?usage: test_fetch_nginx.sh CORIO_FETCH}
certs=${CORIO_TEST_CERTS:?set CORIO_TEST_CERTS (the tls_certs fixture)}
NGINX=${NGINX:-$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)}
[ -n "$NGINX" ] || { echo "SKIP: nginx is not installed (.ci/deps installs nginx-light)"; exit 77; }
tmp=$(mktemp -d)
nginx_pid=
cleanup() {
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null && wait "$nginx_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_eq() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }
json_get() { sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p" <<<"$1"; }
kind_count() { sed -n "s/.*\"error_kinds\":{[^}]*\"$2\":\([0-9]*\).*/\1/p" <<<"$1"; }

# Free ports on 127.0.0.1 (bound and released at once; nginx takes them right after).
free_ports() {
  python3 -c 'import socket,sys
ss=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1",0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
read -r tls expired untrusted wrongname tls2 tls12 plain1 plain2 plain3 <<<"$(free_ports 9)"

# ---- the documents ------------------------------------------------------------------------
mkdir -p "$tmp/www" "$tmp/logs"
chmod 755 "$tmp" # nginx's worker runs as an unprivileged user
for i in $(seq 4000); do echo "line $i of a text that compresses well: corio corio corio"; done \
  >"$tmp/www/big.txt"
head -c 100000 /dev/urandom >"$tmp/www/random.bin"
head -c $((1024 * 1024 + 3)) /dev/urandom >"$tmp/body.bin"

# ---- nginx ---------------------------------------------------------------------------------
built=$("$NGINX" -V 2>&1)
temps=""
for m in client_body proxy fastcgi uwsgi scgi; do
  if [ "$m" = client_body ] || [[ $built != *"--without-http_${m}_module"* ]]; then
    temps+="  ${m}_temp_path $tmp/${m}_temp;"$'\n'
  fi
done
# The headers the client sent, as nginx saw them (empty when absent).
echo_headers='return 200 "auth=[$http_authorization] cookie=[$http_cookie] proxy=[$http_proxy_authorization] host=[$http_host]\n";'
tls_server() { # PORT CERT [PROTOCOLS]: an HTTPS server block presenting CERT.pem
  cat <<EOF
  server {
    listen 127.0.0.1:$1 ssl;
    ssl_protocols ${3:-TLSv1.2 TLSv1.3};
    ssl_certificate $certs/$2.pem;
    ssl_certificate_key $certs/$2.key;
    root $tmp/www;
    location = /hello { default_type text/plain; return 200 "hello\n"; }
    location = /headers { default_type text/plain; $echo_headers }
    location = /r1 { return 302 /r2; }
    location = /r2 { return 301 https://127.0.0.1:$1/r3; }
    location = /r3 { return 307 /hello; }
    location = /same { return 302 /headers; }
    location = /cross { return 302 https://localhost:$tls2/headers; }
    location = /post { default_type text/plain; return 200 "\$request_method \$content_length\\n"; }
  }
EOF
}
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_max_body_size 64m;
  gzip on;
  gzip_types text/plain;
  gzip_min_length 0;
$temps$(tls_server "$tls" server)
$(tls_server "$tls2" server)
$(tls_server "$expired" expired)
$(tls_server "$untrusted" untrusted)
$(tls_server "$wrongname" wrongname)
$(tls_server "$tls12" server TLSv1.2)
  server { listen 127.0.0.1:$plain1; location = /hello { return 200 "one\n"; } }
  server { listen 127.0.0.1:$plain2; location = /hello { return 200 "two\n"; } }
  server { listen 127.0.0.1:$plain3; location = /hello { return 200 "three\n"; } }
}
EOF
"$NGINX" -p "$tmp" -c "$tmp/nginx.conf" >"$tmp/nginx.out" 2>&1 &
nginx_pid=$!
for port in $tls $plain3; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.05
  done
done
if ! (exec 3<>"/dev/tcp/127.0.0.1/$plain3") 2>/dev/null; then
  echo "nginx did not start: $(cat "$tmp/nginx.out" "$tmp/logs/error.log" 2>/dev/null)" >&2
  exit 1
fi

# run NAME ARGS...: corio-fetch -q --json ARGS; sets out, err, status.
run() {
  local name=$1
  shift
  out=$("$fetch" -q --json "$@" 2>"$tmp/err")
  status=$?
  err=$(cat "$tmp/err")
  case $out in '{"requests":'*'}') ;; *) fail "$name: no JSON (exit $status): $out $err" ;; esac
}
ca=(--cacert "$certs/ca.pem")
base=https://127.0.0.1:$tls

# ---- verification ----------------------------------------------------------------------------
mkdir "$tmp/o1"
run verified "${ca[@]}" -o "$tmp/o1" "$base/hello" "https://localhost:$tls/hello"
expect_eq "verified: ok" "$(json_get "$out" ok)" 2
expect_eq "verified: body" "$(cat "$tmp/o1/127.0.0.1_${tls}_hello")" hello
# refused NAME URL MESSAGE [ARGS...]: a tls failure whose line on stderr holds MESSAGE.
refused() {
  local name=$1 url=$2 msg=$3
  shift 3
  run "$name" "$@" "$url"
  expect_eq "$name: exit" "$status" 1
  expect_eq "$name: tls kind" "$(kind_count "$out" tls)" 1
  grep -qF -- ": tls: " <<<"$err" || fail "$name: stderr lacks the kind: $err"
  grep -qF -- "$msg" <<<"$err" || fail "$name: stderr lacks '$msg': $err"
}
refused system-store "$base/hello" \
  "certificate verify failed: self-signed certificate in certificate chain for host 127.0.0.1"
refused wrong-name "https://localhost:$wrongname/hello" \
  "certificate verify failed: hostname mismatch for host localhost" "${ca[@]}"
refused expired "https://localhost:$expired/hello" \
  "certificate verify failed: certificate has expired for host localhost" "${ca[@]}"
refused untrusted-ca "https://localhost:$untrusted/hello" \
  "certificate verify failed: self-signed certificate in certificate chain for host localhost" \
  "${ca[@]}"
run insecure -k "https://localhost:$untrusted/hello"
expect_eq "-k: ok" "$(json_get "$out" ok)" 1
grep -q "warning: -k" <<<"$err" || fail "-k printed no warning: $err"
"$fetch" -q --cacert "$tmp/no-such-ca.pem" "$base/hello" >/dev/null 2>"$tmp/err"
s=$?
expect_eq "--cacert of a missing file: exit" "$s" 1
grep -q "no-such-ca.pem: No such file or directory" "$tmp/err" ||
  fail "--cacert of a missing file: $(cat "$tmp/err")"

# ---- gzip ---------------------------------------------------------------------------------------
mkdir "$tmp/gz" "$tmp/plain"
run compressed "${ca[@]}" --compressed -o "$tmp/gz" "$base/big.txt" "$base/random.bin"
expect_eq "--compressed: ok" "$(json_get "$out" ok)" 2
cmp -s "$tmp/www/big.txt" "$tmp/gz/127.0.0.1_${tls}_big.txt" || fail "--compressed: big.txt differs"
cmp -s "$tmp/www/random.bin" "$tmp/gz/127.0.0.1_${tls}_random.bin" || fail "--compressed: random.bin differs"
wire=$(json_get "$out" wire_bytes)
size=$(stat -c %s "$tmp/www/big.txt")
[ "$wire" -lt "$size" ] || fail "--compressed: $wire bytes on the wire for a $size-byte text: not gzipped"
run identity "${ca[@]}" -o "$tmp/plain" "$base/big.txt"
cmp -s "$tmp/www/big.txt" "$tmp/plain/127.0.0.1_${tls}_big.txt" || fail "identity: big.txt differs"
[ "$(json_get "$out" wire_bytes)" -gt "$size" ] || fail "identity: the body was coded without --compressed"

# ---- redirects and credentials -------------------------------------------------------------
mkdir "$tmp/chain"
run chain "${ca[@]}" -L -o "$tmp/chain" "$base/r1"
expect_eq "redirect chain: ok" "$(json_get "$out" ok)" 1
expect_eq "redirect chain: redirects" "$(json_get "$out" redirects)" 3
expect_eq "redirect chain: body" "$(cat "$tmp/chain/127.0.0.1_${tls}_r1")" hello
secrets=(-H 'Authorization: Bearer s3cret' -H 'Cookie: session=s3cret' \
         -H 'Proxy-Authorization: Basic s3cret' -H "Host: 127.0.0.1:$tls")
mkdir "$tmp/same" "$tmp/cross"
run same-origin "${ca[@]}" -L -o "$tmp/same" "${secrets[@]}" "$base/same"
expect_eq "same-origin redirect: headers kept" "$(cat "$tmp/same"/*)" \
  "auth=[Bearer s3cret] cookie=[session=s3cret] proxy=[Basic s3cret] host=[127.0.0.1:$tls]"
run cross-origin "${ca[@]}" -L -o "$tmp/cross" "${secrets[@]}" "$base/cross"
expect_eq "cross-origin redirect: ok" "$(json_get "$out" ok)" 1
expect_eq "cross-origin redirect: credentials dropped" "$(cat "$tmp/cross"/*)" \
  "auth=[] cookie=[] proxy=[] host=[localhost:$tls2]"
mkdir "$tmp/userinfo"
run userinfo "${ca[@]}" -o "$tmp/userinfo" "https://al%40ice:p%3Ass@127.0.0.1:$tls/headers"
want=$(printf 'al@ice:p:ss' | base64)
expect_eq "userinfo: Basic credentials" "$(cat "$tmp/userinfo"/*)" \
  "auth=[Basic $want] cookie=[] proxy=[] host=[127.0.0.1:$tls]"

# ---- request bodies ---------------------------------------------------------------------------
mkdir "$tmp/post1" "$tmp/post2" "$tmp/put"
run data "${ca[@]}" -o "$tmp/post1" --data "a=1&b=2" "$base/post"
expect_eq "--data: nginx saw" "$(cat "$tmp/post1"/*)" "POST 7"
run data-file "${ca[@]}" -o "$tmp/post2" --data-file "$tmp/body.bin" "$base/post"
expect_eq "--data-file: nginx saw" "$(cat "$tmp/post2"/*)" "POST $((1024 * 1024 + 3))"
run data-put "${ca[@]}" -o "$tmp/put" -X PUT --data x "$base/post"
expect_eq "--data -X PUT: nginx saw" "$(cat "$tmp/put"/*)" "PUT 1"

# ---- session resumption ---------------------------------------------------------------------
run resume "${ca[@]}" --no-keepalive -n 200 -c 4 "$base/hello"
expect_eq "--no-keepalive: ok" "$(json_get "$out" ok)" 200
expect_eq "--no-keepalive: connections" "$(json_get "$out" connections)" 200
resumed=$(json_get "$out" tls_resumed)
[ "$resumed" -ge 150 ] || fail "--no-keepalive: only $resumed of 200 handshakes resumed"
run resume-1.2 "${ca[@]}" --no-keepalive -n 100 -c 4 "https://127.0.0.1:$tls12/hello"
resumed=$(json_get "$out" tls_resumed)
[ "$resumed" -ge 90 ] || fail "TLS 1.2 --no-keepalive: only $resumed of 100 handshakes resumed"
run no-resume "${ca[@]}" --no-keepalive --no-resume -n 50 -c 2 "$base/hello"
expect_eq "--no-resume: resumed" "$(json_get "$out" tls_resumed)" 0
expect_eq "--no-resume: full handshakes" "$(json_get "$out" tls_handshakes)" 50

# ---- three origins, -c 64 ---------------------------------------------------------------------
run three-hosts -n 30000 -c 64 "http://127.0.0.1:$plain1/hello" "http://127.0.0.1:$plain2/hello" \
  "http://127.0.0.1:$plain3/hello"
expect_eq "three origins: ok" "$(json_get "$out" ok)" 30000
conns=$(json_get "$out" connections)
[ "$conns" -le 192 ] || fail "three origins at -c 64 opened $conns connections (at most 3 x 64)"
run three-https "${ca[@]}" -n 6000 -c 16 "$base/hello" "https://localhost:$tls/hello" \
  "https://127.0.0.1:$tls2/hello"
expect_eq "three HTTPS origins: ok" "$(json_get "$out" ok)" 6000
conns=$(json_get "$out" connections)
[ "$conns" -le 48 ] || fail "three HTTPS origins at -c 16 opened $conns connections (at most 48)"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "corio-fetch against nginx: every check passed"
