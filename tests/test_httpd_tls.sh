#!/usr/bin/env bash
# ctest "test_httpd_tls" (label servers): corio-httpd serving HTTP and HTTPS at once
# (--port 0 --tls-port 0, the tls_certs fixture's server certificate), checked with real
# clients: curl --cacert and Python's ssl module (verification, ALPN, keep-alive); POST
# /echo bodies of 1 B to 16 MiB, Content-Length and chunked, over both, byte-exact; byte
# ranges, Last-Modified and If-Modified-Since compared with nginx's answers for the same
# files; TLS peers that reset mid-handshake, speak plain HTTP or send garbage records,
# each closed while a keep-alive client on another connection goes on; running out of
# file descriptors (accept paused, logged at most once a second, existing clients served).
#   tests/test_httpd_tls.sh PATH/TO/corio-httpd
# Exits 77 (skipped) without curl, python3 or nginx.
# shellcheck disable=SC2317  # cleanup runs from a trap
set -uo pipefail
server=${1:?usage: test_httpd_tls.sh CORIO_HTTPD}
certs=${CORIO_TEST_CERTS:?set CORIO_TEST_CERTS (the tls_certs fixture)}
NGINX=${NGINX:-$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)}
for tool in curl python3; do
  command -v $tool >/dev/null || { echo "SKIP: $tool is not installed (.ci/deps)"; exit 77; }
done
[ -n "$NGINX" ] || { echo "SKIP: nginx is not installed (.ci/deps installs nginx-light)"; exit 77; }
# shellcheck source=tests/server_lib.sh
source "$(dirname "$0")/server_lib.sh"
nginx_pid=
trap 'cleanup; [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null' EXIT
checks=0
check() { checks=$((checks + 1)); }
expect_eq() { check; [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

root=$tmp/www
mkdir -p "$root" "$tmp/logs"
chmod 755 "$tmp"
head -c 10000 /dev/urandom >"$root/file.bin"
: >"$root/empty.bin"
echo 'a short text' >"$root/short.txt"
touch -d '2024-05-06 07:08:09 UTC' "$root/file.bin" "$root/short.txt"

start_server "$server" --port 0 --tls-port 0 --cert "$certs/server.pem" --key "$certs/server.key" \
  --root "$root" --max-body 16M --idle-timeout 5 --header-timeout 2
out_file="$tmp/out.$starts"
http=$(listening_port "$out_file" http) || { fail "no http listening line"; exit 1; }
https=$(listening_port "$out_file" https) || { fail "no https listening line"; exit 1; }
curl_tls=(curl -sS --cacert "$certs/ca.pem" --max-time 20)

# ---- curl and Python's ssl ----------------------------------------------------------------
expect_eq "curl https://127.0.0.1/hello" "$("${curl_tls[@]}" "https://127.0.0.1:$https/hello")" "hello"
expect_eq "curl https://localhost/hello" "$("${curl_tls[@]}" "https://localhost:$https/hello")" "hello"
expect_eq "curl http://127.0.0.1/hello (beside HTTPS)" "$(curl -sS "http://127.0.0.1:$http/hello")" "hello"
check
curl -sS --max-time 10 "https://127.0.0.1:$https/hello" >/dev/null 2>"$tmp/curl.err" &&
  fail "curl without --cacert trusted the test CA"
# Two requests on one connection: curl says it reused it.
"${curl_tls[@]}" -v "https://127.0.0.1:$https/hello" "https://127.0.0.1:$https/short.txt" \
  >"$tmp/two" 2>"$tmp/two.err"
check
grep -q "Re-using existing connection" "$tmp/two.err" || fail "curl did not reuse the TLS connection"
expect_eq "two requests, one connection" "$(cat "$tmp/two")" "hello"$'\n'"a short text"

check
python3 - "$https" "$certs/ca.pem" >"$tmp/py" 2>&1 <<'EOF' || fail "python ssl: $(cat "$tmp/py")"
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        assert s.selected_alpn_protocol() == "http/1.1", s.selected_alpn_protocol()
        assert s.version() in ("TLSv1.2", "TLSv1.3"), s.version()
        names = [v for k, v in s.getpeercert()["subjectAltName"] if k == "DNS"]
        assert "localhost" in names, names
        f = s.makefile("rb")
        for path in ("/hello", "/short.txt"):
            s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
            status = f.readline()
            assert status.startswith(b"HTTP/1.1 200 "), status
            length = 0
            while True:
                line = f.readline()
                if line == b"\r\n":
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = f.read(length)
            assert body in (b"hello\n", b"a short text\n"), body
# A wrong host name is refused by the client's own verification.
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        ctx.wrap_socket(raw, server_hostname="wrong.example")
    sys.exit("a wrong host name was accepted")
except ssl.SSLCertVerificationError:
    pass
EOF

# ---- POST /echo: 1 B to 16 MiB, Content-Length and chunked, HTTP and HTTPS -----------------
for size in 1 1000 65537 1048579 16777216; do
  head -c "$size" /dev/urandom >"$tmp/body.$size"
done
for scheme in http https; do
  if [ $scheme = http ]; then url="http://127.0.0.1:$http/echo" c=(curl -sS --max-time 60)
  else url="https://127.0.0.1:$https/echo" c=("${curl_tls[@]}" --max-time 60); fi
  for size in 1 1000 65537 1048579 16777216; do
    check
    "${c[@]}" --data-binary "@$tmp/body.$size" -H 'Content-Type: application/octet-stream' \
      "$url" -o "$tmp/echoed" || fail "$scheme echo $size B (Content-Length): curl failed"
    cmp -s "$tmp/echoed" "$tmp/body.$size" || fail "$scheme echo $size B (Content-Length) differs"
    check
    "${c[@]}" --data-binary "@$tmp/body.$size" -H 'Transfer-Encoding: chunked' \
      "$url" -o "$tmp/echoed" || fail "$scheme echo $size B (chunked): curl failed"
    cmp -s "$tmp/echoed" "$tmp/body.$size" || fail "$scheme echo $size B (chunked) differs"
  done
done
head -c $((16 * 1024 * 1024 + 1)) /dev/zero >"$tmp/too.big"
for te in "" "Transfer-Encoding: chunked"; do
  expect_eq "a body over --max-body (${te:-Content-Length})" \
    "$(curl -sS --max-time 60 -o /dev/null -w '%{http_code}' ${te:+-H "$te"} \
      --data-binary "@$tmp/too.big" "http://127.0.0.1:$http/echo")" "413"
done

# ---- ranges and If-Modified-Since, against nginx ----------------------------------------------
nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $tmp/client_body_temp;
  server {
    listen 127.0.0.1:$nginx_port;
    root $root;
    if_modified_since before;
    etag off;
  }
}
EOF
"$NGINX" -p "$tmp" -c "$tmp/nginx.conf" 2>"$tmp/nginx.err" &
nginx_pid=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$nginx_port/short.txt" && break
  sleep 0.05
done
# answer URL [CURL ARGS]: status, Content-Range and Last-Modified, then the body's digest.
answer() {
  local url=$1
  shift
  curl -sS --max-time 10 -D "$tmp/h" -o "$tmp/b" "$@" "$url" >/dev/null || echo "curl failed"
  local status range modified
  status=$(sed -n '1s/^HTTP\/1\.1 \([0-9]*\).*/\1/p' "$tmp/h")
  range=$(grep -i '^Content-Range:' "$tmp/h" | tr -d '\r' | cut -d' ' -f2-)
  modified=$(grep -i '^Last-Modified:' "$tmp/h" | tr -d '\r' | cut -d' ' -f2-)
  echo "$status [$range] [$modified]"
  [[ $status = 2* ]] && md5sum <"$tmp/b" | cut -d' ' -f1
}
for spec in "0-0" "0-99" "100-" "-100" "9990-20000" "-20000" "9999-9999" "10000-" "500-100" \
  "abc" "-0" "1-2,5-6" " 10-20"; do
  for f in file.bin empty.bin; do
    for scheme in nginx corio; do
      if [ $scheme = nginx ]; then url="http://127.0.0.1:$nginx_port/$f"
      else url="http://127.0.0.1:$http/$f"; fi
      answer "$url" -H "Range: bytes=$spec" >"$tmp/ans.$scheme"
    done
    [ "$spec" = "1-2,5-6" ] && [ $f = file.bin ] && {
      # nginx answers several ranges as multipart/byteranges; corio-httpd sends the whole
      # file (RFC 9110 lets a server ignore Range): check that instead.
      expect_eq "Range: bytes=$spec: the whole file" "$(head -1 "$tmp/ans.corio")" \
        "200 [] [$(grep -i '^Last-Modified:' "$tmp/h" | tr -d '\r' | cut -d' ' -f2-)]"
      continue
    }
    expect_eq "Range: bytes=$spec of $f, as nginx" "$(cat "$tmp/ans.corio")" "$(cat "$tmp/ans.nginx")"
  done
done
for ims in "Mon, 06 May 2024 07:08:09 GMT" "Mon, 06 May 2024 07:08:08 GMT" \
  "Tue, 07 May 2024 00:00:00 GMT" "Monday, 06-May-24 07:08:09 GMT" "Mon May  6 07:08:09 2024" \
  "not a date"; do
  a=$(answer "http://127.0.0.1:$nginx_port/short.txt" -H "If-Modified-Since: $ims")
  b=$(answer "http://127.0.0.1:$http/short.txt" -H "If-Modified-Since: $ims")
  expect_eq "If-Modified-Since: $ims, as nginx" "$b" "$a"
done
kill "$nginx_pid" && wait "$nginx_pid" 2>/dev/null
nginx_pid=

# ---- hostile TLS peers, while a keep-alive client goes on -----------------------------------
check
python3 - "$https" "$certs/ca.pem" >"$tmp/py" 2>&1 <<'EOF' || fail "hostile TLS peers: $(cat "$tmp/py")"
import socket, ssl, struct, sys, threading, time
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
good = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                       server_hostname="localhost")
gf = good.makefile("rb")

def good_request():
    good.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
    status = gf.readline()
    assert status.startswith(b"HTTP/1.1 200 "), status
    while gf.readline() != b"\r\n":
        pass
    assert gf.read(6) == b"hello\n"

def ends(s, what):
    """The server ends the connection (EOF, reset, or an alert then EOF) within 5 s."""
    s.settimeout(5)
    t = time.monotonic()
    try:
        while s.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except socket.timeout:
        sys.exit(what + ": the server kept the connection open")
    assert time.monotonic() - t < 5, what

def client_hello():
    # The first flight of a real handshake, taken from an in-memory one.
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()

good_request()
hello = client_hello()
# 1. a reset in the middle of the handshake: half a ClientHello, then RST
s = socket.create_connection(("127.0.0.1", port))
s.sendall(hello[: len(hello) // 2])
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
good_request()
# 2. plain HTTP to the TLS port
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
ends(s, "plain HTTP")
good_request()
# 3. a ClientHello, then garbage records
s = socket.create_connection(("127.0.0.1", port))
s.sendall(hello + b"\x17\x03\x03\x00\x20" + b"\xaa" * 32 + b"\x16\x03\x03\xff\xff" + b"x" * 100)
ends(s, "garbage records")
good_request()
# 4. a finished handshake, then a record no key made
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
while True:
    try:
        obj.do_handshake()
        raw.sendall(out.read())
        break
    except ssl.SSLWantReadError:
        raw.sendall(out.read())
        inc.write(raw.recv(65536))
raw.sendall(b"\x17\x03\x03\x00\x40" + b"\x55" * 64)
ends(raw, "a forged record after the handshake")
good_request()
# 5. a client that says nothing: closed after the header timeout (2 s)
s = socket.create_connection(("127.0.0.1", port))
t = time.monotonic()
s.settimeout(10)
try:
    while s.recv(4096):
        pass
except ConnectionResetError:
    pass
waited = time.monotonic() - t
assert 1.5 < waited < 6, waited
good_request()
good.close()
EOF
expect_eq "corio-httpd alive after the hostile peers" "$(kill -0 "$pid" && echo yes)" "yes"
stop_server

# ---- out of file descriptors ----------------------------------------------------------------
# With 40 fds, the 60 connections a client opens run the server out: accepting pauses, one
# log line a second at most; a connection opened before goes on being served, and once the
# crowd leaves, new connections are served again.
start_server prlimit --nofile=40 "$server" --port 0
check
python3 - "$port" "$tmp/err" >"$tmp/py" 2>&1 <<'EOF' || fail "out of fds: $(cat "$tmp/py")"
import socket, sys, time
port, errfile = int(sys.argv[1]), sys.argv[2]
def request(s):
    s.sendall(b"GET /hello HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    while not data.endswith(b"hello\n"):
        chunk = s.recv(4096)
        assert chunk, "closed"
        data += chunk
    assert data.startswith(b"HTTP/1.1 200 "), data
first = socket.create_connection(("127.0.0.1", port), timeout=10)
request(first)
start = time.monotonic()
crowd = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(60)]
deadline = time.monotonic() + 10
while "Too many open files" not in open(errfile).read():
    assert time.monotonic() < deadline, "nothing logged"
    time.sleep(0.05)
request(first)                      # served while accepting is paused
time.sleep(1.5)                     # the log is rate-limited: at most one line a second
lines = open(errfile).read().count("Too many open files")
elapsed = time.monotonic() - start
assert 1 <= lines <= int(elapsed) + 1, (lines, elapsed)
for s in crowd:
    s.close()
late = socket.create_connection(("127.0.0.1", port), timeout=10)
request(late)                       # accepted again once fds are free
EOF
stop_server

echo "$checks checks, $failures failed"
[ "$failures" -eq 0 ]
