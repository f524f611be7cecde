#!/usr/bin/env bash
# ctest "test_httpd" (label servers): corio-httpd on an ephemeral port of 127.0.0.1 with a
# temporary --root (text, binary and 1.5 MiB files, a subdirectory, symlinks inside and out
# of the root, a FIFO), driven by http_probe (tests/http_probe.c) and bash's /dev/tcp:
# /hello, byte-exact files, HEAD, 404, 301, traversal refused (403) with openat2 and with
# its fallback, 400/405/413/414/431/501/505 on crafted requests, pipelining in order,
# keep-alive reuse, HTTP/1.0, LF-only heads, idle and header (slow-loris) timeouts,
# --max-conns (503), graceful SIGTERM (in-flight request answered, exit 0; leak-free under
# ASan), bad flags (exit 2), a port in use and a bad root (exit 1).
#   tests/test_httpd.sh PATH/TO/corio-httpd PATH/TO/http_probe
# shellcheck disable=SC2317  # cleanup runs from a trap
set -uo pipefail
server=${1:?usage: test_httpd.sh CORIO_HTTPD HTTP_PROBE}
probe=${2:?usage: test_httpd.sh CORIO_HTTPD HTTP_PROBE}
# shellcheck source=tests/server_lib.sh
source "$(dirname "$0")/server_lib.sh"
checks=0
check() { checks=$((checks + 1)); }

# ---- the document root ---------------------------------------------------------------------
root=$tmp/www outside=$tmp/outside
mkdir -p "$root/sub" "$root/noindex" "$outside"
echo '<!doctype html><title>corio</title>' >"$root/index.html"
echo 'body { color: red }' >"$root/style.css"
echo 'console.log("hi")' >"$root/app.js"
echo '{"a": 1}' >"$root/data.json"
echo 'a note' >"$root/note.txt"
printf '<svg xmlns="http://www.w3.org/2000/svg"/>' >"$root/pic.svg"
head -c 3000 /dev/urandom >"$root/img.png"
head -c 777 /dev/urandom >"$root/PHOTO.JPG"
head -c 100 /dev/urandom >"$root/anim.gif"
head -c 200 /dev/urandom >"$root/favicon.ico"
head -c 300 /dev/urandom >"$root/mod.wasm"
head -c 400 /dev/urandom >"$root/doc.pdf"
# shellcheck disable=SC2059  # each byte value, as an octal escape in the format
for i in $(seq 0 255); do printf "\\$(printf %03o "$i")"; done >"$root/bytes.bin"
head -c $((1536 * 1024 + 7)) /dev/urandom >"$root/big.bin"
: >"$root/empty.txt"
echo 'sub index' >"$root/sub/index.html"
echo 'spaced' >"$root/sub/a b.txt"
echo 'noext' >"$root/sub/README"
echo 'secret' >"$outside/secret.txt"
ln -s note.txt "$root/rel.txt"                  # stays inside: followed
ln -s ../outside/secret.txt "$root/out.txt"     # relative, escapes
ln -s "$outside" "$root/escape"                 # absolute, escapes
mkfifo "$root/fifo"
seg="$(head -c 150 /dev/zero | tr '\0' d) é" # a 301 Location longer than a response head
mkdir -p "$root/$seg/$seg/$seg"

# ---- helpers ---------------------------------------------------------------------------------

# Starts corio-httpd with "$@" on an ephemeral port (server_lib.sh's start_server).
start_httpd() { start_server "$server" --port 0 "$@"; }


# send REQUEST [PROBE OPTIONS...]: REQUEST (printf format, no arguments) to the server;
# the probe's report lands in $tmp/resp, the bodies in $tmp/body.
send() {
  local req=$1
  shift
  # shellcheck disable=SC2059  # the request is the format on purpose
  printf "$req" | "$probe" "$port" --body "$tmp/body" "$@" >"$tmp/resp"
}

get() { send "GET $1 HTTP/1.1\r\nHost: t\r\n\r\n"; }

has() { # NAME LINE: the last response report contains LINE (a grep -E pattern)
  check
  grep -qE -- "$2" "$tmp/resp" || fail "$1: no line matching '$2' in:$(printf '\n%s' "$(cat "$tmp/resp")")"
}
lacks() {
  check
  ! grep -qE -- "$2" "$tmp/resp" || fail "$1: unexpected '$2' in:$(printf '\n%s' "$(cat "$tmp/resp")")"
}
statuses() { grep -oE '^HTTP/1\.1 [0-9]{3}' "$tmp/resp" | cut -d' ' -f2 | tr '\n' ' '; }
expect_statuses() { # NAME "S1 S2 ...": the statuses of the responses, in order
  check
  local got
  got=$(statuses)
  [ "$got" = "$2 " ] || fail "$1: statuses '$got', want '$2':$(printf '\n%s' "$(cat "$tmp/resp")")"
}
expect_body() { # NAME FILE: the bodies received equal FILE byte for byte
  check
  cmp -s "$tmp/body" "$2" || fail "$1: body differs from $2 ($(wc -c <"$tmp/body") vs $(wc -c <"$2") bytes)"
}
closed_after() { sed -n 's/^\[\(eof\|reset\) after \([0-9.]*\) s\]$/\2/p' "$tmp/resp"; }
expect_closed_within() { # NAME MIN MAX: the server closed between MIN and MAX seconds in
  check
  local t
  t=$(closed_after)
  if [ -z "$t" ]; then
    fail "$1: the server did not close: $(tail -1 "$tmp/resp")"
  elif ! awk -v t="$t" -v lo="$2" -v hi="$3" 'BEGIN { exit !(t >= lo && t <= hi) }'; then
    fail "$1: closed after $t s, not within [$2, $3]"
  fi
}

# ---- files, methods, statuses (with openat2, then with its fallback) -------------------------
content_types=(
  "index.html|text/html; charset=utf-8" "style.css|text/css; charset=utf-8"
  "app.js|text/javascript; charset=utf-8" "data.json|application/json"
  "note.txt|text/plain; charset=utf-8" "pic.svg|image/svg+xml" "img.png|image/png"
  "PHOTO.JPG|image/jpeg" "anim.gif|image/gif" "favicon.ico|image/x-icon"
  "mod.wasm|application/wasm" "doc.pdf|application/pdf"
  "bytes.bin|application/octet-stream" "big.bin|application/octet-stream"
  "sub/README|application/octet-stream" "empty.txt|text/plain; charset=utf-8"
)

static_checks() {
  local m=$1 entry f type size
  get /hello
  expect_statuses "$m: /hello" "200"
  has "$m: /hello" '^Content-Type: text/plain$'
  has "$m: /hello" '^Content-Length: 6$'
  has "$m: /hello" '^Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT$'
  has "$m: /hello" '^\[eof after'
  printf 'hello\n' >"$tmp/hello.want"
  expect_body "$m: /hello" "$tmp/hello.want"
  send 'HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n' --head
  has "$m: HEAD /hello" '^Content-Length: 6$'
  has "$m: HEAD /hello" '^\[body 0 bytes\]$'

  for entry in "${content_types[@]}"; do
    f=${entry%%|*} type=${entry#*|}
    size=$(wc -c <"$root/$f")
    get "/$f"
    expect_statuses "$m: /$f" "200"
    has "$m: /$f" "^Content-Type: ${type//+/\\+}\$"
    has "$m: /$f" "^Content-Length: $size\$"
    expect_body "$m: /$f" "$root/$f"
  done
  send 'HEAD /big.bin HTTP/1.1\r\nHost: t\r\n\r\n' --head
  has "$m: HEAD /big.bin" "^Content-Length: $(wc -c <"$root/big.bin")\$"
  has "$m: HEAD /big.bin" '^\[body 0 bytes\]$'
  lacks "$m: HEAD /big.bin" 'partial head' # no body bytes followed the head

  get /
  expect_body "$m: / serves index.html" "$root/index.html"
  get /sub/
  expect_body "$m: /sub/ serves its index.html" "$root/sub/index.html"
  get /sub
  expect_statuses "$m: /sub" "301"
  has "$m: /sub" '^Location: /sub/$'
  local enc
  enc="$(head -c 150 /dev/zero | tr '\0' d)%%20%%C3%%A9"
  enc="$enc/$enc/$enc"
  get "/$enc"
  expect_statuses "$m: a long directory name without its /" "301"
  has "$m: a long directory name without its /" "^Location: /${enc//%%/%}/\$"
  get '/sub/a%%20b.txt'
  expect_body "$m: percent-decoded name" "$root/sub/a b.txt"
  get /rel.txt
  expect_body "$m: symlink inside the root" "$root/note.txt"
  get '/./sub/../note.txt?x=1'
  expect_body "$m: dot segments inside the root" "$root/note.txt"
  get 'http://t/note.txt'
  expect_body "$m: absolute-form target" "$root/note.txt"
  get //etc/passwd
  expect_statuses "$m: //etc/passwd is under the root" "404"
  for p in /nope.txt /noindex/ /sub/nope/ /index.html/x; do
    get "$p"
    expect_statuses "$m: $p" "404"
  done

  # Traversal and escapes: 403, and never the secret.
  for p in /../outside/secret.txt /sub/../../outside/secret.txt '/%%2e%%2e/outside/secret.txt' \
           '/%%2E%%2E%%2Foutside%%2Fsecret.txt' '/.%%2e/outside/secret.txt' /out.txt \
           /escape/secret.txt '/escape%%2Fsecret.txt' 'http://t/../outside/secret.txt' /fifo; do
    get "$p"
    expect_statuses "$m: $p" "403"
    lacks "$m: $p" 'secret'
  done
}

crafted_checks() {
  local long
  send 'GARBAGE\r\n\r\n'
  expect_statuses "malformed request line" "400"
  has "malformed request line" '^Connection: close$'
  send 'GET / HTTP/1.1\r\n\r\n'
  expect_statuses "HTTP/1.1 without Host" "400"
  send 'GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx'
  expect_statuses "duplicate Content-Length" "400"
  send 'GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n'
  expect_statuses "negative Content-Length" "400"
  send 'GET /hello HTTP/2.0\r\nHost: t\r\n\r\n'
  expect_statuses "HTTP/2.0" "505"
  long=$(head -c 9000 /dev/zero | tr '\0' a)
  send "GET /hello HTTP/1.1\r\nHost: t\r\nX-Long: $long\r\n\r\n"
  expect_statuses "header over 8 KiB" "431"
  send "GET /$long HTTP/1.1\r\nHost: t\r\n\r\n"
  expect_statuses "request line over 8 KiB" "414"
  send 'BREW /pot HTTP/1.1\r\nHost: t\r\n\r\n'
  expect_statuses "unknown method" "501"
  has "unknown method: closed" '^Connection: close$'
  send 'GET /hello HTTP/1.1\r\nHost: a b\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n'
  expect_statuses "Host: a b (RFC 9112 3.2)" "400"
  has "Host: a b: closed" '^Connection: close$'
  send 'GET /hello HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n'
  expect_statuses "two Host fields" "400"
  send 'GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n'
  expect_statuses "body over --max-body" "413"
  has "body over --max-body" '^Connection: close$'
  # A chunked body the route does not take is decoded and dropped: the connection goes on.
  send 'POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n'
  expect_statuses "chunked body, then GET" "405 200"
  send 'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n'
  expect_statuses "chunked POST /echo" "200"
  has "chunked POST /echo" '^Content-Length: 5$'
  printf 'abcde' >"$tmp/echo.want"
  expect_body "chunked POST /echo body" "$tmp/echo.want"
  send 'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n'
  expect_statuses "bad chunk size" "400"
  has "bad chunk size" '^Connection: close$'
  send 'POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'
  expect_statuses "a coding before chunked" "501"
  # 405 keeps the connection: its body is read and dropped, the next request is answered.
  send 'POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcdeGET /hello HTTP/1.1\r\nHost: t\r\n\r\n'
  expect_statuses "POST then GET" "405 200"
  has "POST then GET" '^Allow: GET, HEAD$'
  send 'DELETE /note.txt HTTP/1.1\r\nHost: t\r\n\r\n'
  expect_statuses "DELETE" "405"
  # Expect: 100-continue: a route that reads the body gets the 100 first; one that
  # answers without it does not, and closes (the client holds its body back).
  send 'POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc'
  expect_statuses "Expect: 100-continue, read" "100 200"
  send 'PUT /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n'
  expect_statuses "Expect: 100-continue, refused" "405"
  has "Expect: 100-continue, refused" '^Connection: close$'

  send 'GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbodyGET /note.txt HTTP/1.1\r\nHost: t\r\n\r\n'
  expect_statuses "GET with a body, then GET" "200 200"

  # Pipelining: answered in order on one connection; the last says close.
  send 'GET /hello HTTP/1.1\r\nHost: t\r\n\r\nGET /note.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /nope HTTP/1.1\r\nHost: t\r\n\r\nGET /data.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n' --keep-open
  expect_statuses "pipelined" "200 200 404 200"
  { printf 'hello\n'; cat "$root/note.txt"; printf '404 Not Found\n'; cat "$root/data.json"; } >"$tmp/pipe.want"
  expect_body "pipelined bodies in order" "$tmp/pipe.want"
  has "pipelined: closed after Connection: close" '^\[(eof|reset) after'
  # Many pipelined in one write (more than one write buffer of responses).
  local many="" i
  for i in $(seq 200); do many+='GET /hello HTTP/1.1\r\nHost: t\r\n\r\n'; done
  send "$many"
  check
  [ "$(grep -c '^HTTP/1.1 200 OK$' "$tmp/resp")" -eq 200 ] || fail "200 pipelined: $(statuses | wc -w) answers"

  # HTTP/1.0: closed after the response unless asked; LF-only line ends accepted.
  send 'GET /hello HTTP/1.0\r\n\r\n' --keep-open
  expect_statuses "HTTP/1.0" "200"
  has "HTTP/1.0" '^Connection: close$'
  expect_closed_within "HTTP/1.0 closes" 0 2
  send 'GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.0\r\n\r\n'
  expect_statuses "HTTP/1.0 keep-alive" "200 200"
  has "HTTP/1.0 keep-alive" '^Connection: keep-alive$'
  send 'GET /hello HTTP/1.1\nHost: t\n\n'
  expect_statuses "LF-only head" "200"

  # Keep-alive reuse, request after response (no pipelining), with bash's /dev/tcp.
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  local line n ok=0
  for i in 1 2 3; do
    printf 'GET /hello HTTP/1.1\r\nHost: t\r\n\r\n' >&3
    n=0
    while IFS= read -r -t 5 line <&3; do
      line=${line%$'\r'}
      [ -z "$line" ] && break
      n=$((n + 1))
    done
    IFS= read -r -t 5 line <&3 && [ "$line" = hello ] && [ "$n" -ge 4 ] && ok=$((ok + 1))
  done
  exec 3<&-
  check
  [ "$ok" -eq 3 ] || fail "keep-alive: $ok of 3 requests answered on one connection"
}

for mode in "" "--no-openat2"; do
  # shellcheck disable=SC2086
  start_httpd --root "$root" $mode
  static_checks "${mode:-openat2}"
  [ -z "$mode" ] && crafted_checks
  stop_server
done

# Without --root only /hello exists.
start_httpd
get /hello
expect_statuses "no root: /hello" "200"
get /index.html
expect_statuses "no root: /index.html" "404"
stop_server

# Several threads.
start_httpd --root "$root" --threads 2
for _ in 1 2 3 4; do
  get /big.bin
  expect_body "--threads 2: big file" "$root/big.bin"
done
stop_server

# ---- timeouts ---------------------------------------------------------------------------------
start_httpd --idle-timeout 1 --header-timeout 5
send '' --keep-open --timeout 8
expect_closed_within "idle connection" 0.8 3
send 'GET /hello HTTP/1.1\r\nHost: t\r\n\r\n' --keep-open --timeout 8
expect_statuses "idle after a request" "200"
expect_closed_within "idle after a request" 0.8 3
stop_server

# A client that stops reading: the sends that the socket cannot take are bounded by the
# idle timeout too. With --max-conns 1 the stuck connection holds the only slot (503)
# until then.
start_httpd --root "$root" --idle-timeout 1 --max-conns 1
exec 6<>"/dev/tcp/127.0.0.1/$port"
for _ in $(seq 30); do printf 'GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n'; done >&6
sleep 0.3
get /hello
expect_statuses "a client not reading holds its slot" "503"
ok=0
for _ in $(seq 60); do
  sleep 0.1
  get /hello
  [ "$(statuses)" = "200 " ] && ok=1 && break
done
check
[ "$ok" -eq 1 ] || fail "a client not reading was not cut off by the idle timeout"
exec 6<&-
stop_server

# Slow loris: a byte every 100 ms keeps each receive well inside the 5 s idle timeout, but
# the head must be whole within the 1 s header timeout.
start_httpd --idle-timeout 5 --header-timeout 1
send 'GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n' \
  --keep-open --trickle 100 --timeout 8
expect_closed_within "slow loris" 0.8 3
lacks "slow loris" '^HTTP/'
stop_server

# ---- --max-conns: one more is answered 503 and closed --------------------------------------
start_httpd --max-conns 2
exec 4<>"/dev/tcp/127.0.0.1/$port" 5<>"/dev/tcp/127.0.0.1/$port"
for fd in 4 5; do # an answer on each: both are accepted and counted
  printf 'GET /hello HTTP/1.1\r\nHost: t\r\n\r\n' >&"$fd"
  while IFS= read -r -t 5 line <&"$fd" && [ "$line" != hello ]; do :; done
done
send ''
expect_statuses "over --max-conns" "503"
exec 4<&- 5<&-
ok=0
for _ in $(seq 40); do
  get /hello
  [ "$(statuses)" = "200 " ] && ok=1 && break
  sleep 0.05
done
check
[ "$ok" -eq 1 ] || fail "--max-conns: no room again after two connections closed"
stop_server

# ---- graceful shutdown ------------------------------------------------------------------------
# A request in flight (trickling in) when SIGTERM arrives is still answered, with
# Connection: close; an idle kept-alive connection is closed at once; new connections are
# refused; the server then exits 0.
start_httpd --grace 5
exec 3<>"/dev/tcp/127.0.0.1/$port" 4<>"/dev/tcp/127.0.0.1/$port" # 4: never sends
printf 'GET /hello HTTP/1.1\r\nHost: t\r\n\r\n' >&3 # served: now idle
printf 'GET /hello HTTP/1.1\r\nHost: t\r\n\r\n' |
  "$probe" "$port" --trickle 40 --keep-open --timeout 8 >"$tmp/inflight" &
inflight=$!
sleep 0.5
kill -TERM "$pid"
sleep 0.3
check
if "$probe" "$port" </dev/null >/dev/null 2>&1; then fail "shutdown: a new connection was accepted"; fi
check
timeout 3 cat <&3 >"$tmp/idle.out" || fail "shutdown: the idle connection was not closed"
check
timeout 3 cat <&4 >"$tmp/idle.out" || fail "shutdown: the silent connection was not closed"
exec 3<&- 4<&-
wait "$inflight"
cp "$tmp/inflight" "$tmp/resp"
expect_statuses "shutdown: in-flight request" "200"
has "shutdown: in-flight request" '^Connection: close$'
wait "$pid"
status=$?
pid=
check
[ "$status" -eq 0 ] || fail "graceful shutdown exited $status: $(cat "$tmp/err")"

# A second signal does not wait for the grace period: everything is cancelled, exit 0.
start_httpd --grace 30
printf 'GET /hello HTTP/1.1\r\nHost: t\r\n\r\n' |
  "$probe" "$port" --trickle 100 --keep-open --timeout 8 >"$tmp/inflight" &
inflight=$!
sleep 0.3
kill -TERM "$pid"
sleep 0.3
t0=$(date +%s%N)
kill -INT "$pid"
wait "$pid"
status=$?
t1=$(date +%s%N)
pid=
wait "$inflight"
check
[ "$status" -eq 0 ] || fail "second signal: exit $status: $(cat "$tmp/err")"
check
[ $(((t1 - t0) / 1000000)) -lt 2000 ] || fail "second signal: took $(((t1 - t0) / 1000000)) ms to exit"
cp "$tmp/inflight" "$tmp/resp"
lacks "second signal: the in-flight request is cut" '^HTTP/'

# ---- start-up errors --------------------------------------------------------------------------
for bad in "--port 70000" "--threads 0" "--bogus" "--idle-timeout 0" "--max-body x" \
           "--host localhost" "--max-conns 0" "--port"; do
  # shellcheck disable=SC2086
  "$server" $bad >/dev/null 2>"$tmp/bad"
  status=$?
  check
  [ "$status" -eq 2 ] || fail "corio-httpd $bad exited $status, not 2"
  grep -q 'usage' "$tmp/bad" || fail "corio-httpd $bad printed no usage"
done
start_httpd
"$server" --port "$port" >/dev/null 2>"$tmp/busy"
status=$?
check
[ "$status" -eq 1 ] || fail "a port in use: exit $status, not 1"
grep -q 'cannot listen' "$tmp/busy" || fail "a port in use: no clear message: $(cat "$tmp/busy")"
stop_server
for bad in "$tmp/missing" "$root/note.txt"; do
  "$server" --port 0 --root "$bad" >/dev/null 2>"$tmp/badroot"
  status=$?
  check
  [ "$status" -eq 1 ] || fail "--root $bad: exit $status, not 1"
  grep -q -- '--root' "$tmp/badroot" || fail "--root $bad: no clear message"
done
if [ "$(id -u)" -ne 0 ]; then # root reads everything
  mkdir "$tmp/locked" && chmod 000 "$tmp/locked"
  "$server" --port 0 --root "$tmp/locked" >/dev/null 2>"$tmp/badroot"
  status=$?
  check
  [ "$status" -eq 1 ] || fail "unreadable --root: exit $status, not 1"
  chmod 700 "$tmp/locked"
fi

[ "$failures" -eq 0 ] || { echo "$failures of $checks checks failed" >&2; exit 1; }
echo "corio-httpd: all $checks checks passed"
