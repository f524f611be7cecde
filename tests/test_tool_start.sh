#!/usr/bin/env bash
# ctest "test_tool_start" (label examples): how corio-echo, corio-httpd and corio-kv start.
# - The listening line (examples/serving.h): "listening on 127.0.0.1:PORT" for echo and kv,
#   "listening on http://127.0.0.1:PORT" for httpd, "[ADDR]" for IPv6, one line for several
#   loops on one address; once it is printed, a client is served at once.
# - The backend line (examples/backend.h): with -v each tool names its backend on stderr
#   ("backend io_uring"; "backend epoll (CORIO_BACKEND=epoll)" when chosen so), before its
#   listening line; without -v and without a fallback it says nothing.
# - Where io_uring is blocked: under tests/no_uring (a seccomp filter making io_uring_setup,
#   io_uring_enter and io_uring_register fail with EPERM, as Docker's default profile does,
#   or with ENOSYS, as a filter hiding them does), each tool starts on epoll, in each mode
#   and with several loops: it prints its listening line, and before it, once and without
#   -v, "backend epoll (io_uring unavailable: ...)" naming io_uring and seccomp; it serves
#   real clients (corio-echo: 256 KiB of random bytes echoed exactly, on several
#   connections with several loops; corio-httpd: GET /hello is 200 "hello\n" and a 200 KiB
#   file from --root comes back byte for byte; corio-kv: SET then GET, and with --snapshot
#   the loaded key and the final snapshot written at SIGTERM); SIGTERM ends it with 0.
# - With CORIO_BACKEND=io_uring under the filter, and with CORIO_BACKEND=bogus anywhere,
#   each tool exits 1 within 10 s and prints nothing on stdout (no listening line); stderr
#   names io_uring and seccomp, or CORIO_BACKEND. A snapshot is left untouched.
# - On a port in use: exit 1 within 10 s, nothing on stdout, "cannot listen" on stderr;
#   the server holding the port is unharmed.
# The blocked part is skipped (77) where no seccomp filter can be installed.
#   tests/test_tool_start.sh NO_URING CORIO_ECHO CORIO_HTTPD CORIO_KV
# shellcheck disable=SC2317  # cleanup runs from a trap
set -uo pipefail
unset CORIO_BACKEND # this test picks the backends itself (the epoll pass sets it)
usage="usage: test_tool_start.sh NO_URING CORIO_ECHO CORIO_HTTPD CORIO_KV"
no_uring=${1:?$usage}
echo_server=${2:?$usage}
httpd=${3:?$usage}
kv=${4:?$usage}
# shellcheck source=tests/server_lib.sh
source "$(dirname "$0")/server_lib.sh"

stop_server() { stop_server_within_10s "$@"; }

# NAME PATTERN COMMAND...: COMMAND must exit 1 within 10 s with nothing on stdout (no
# listening line, nor any other) and PATTERN (grep -E, any case) on stderr.
expect_no_start() {
  local name=$1 pattern=$2 status
  shift 2
  timeout -s KILL 10 "$@" >"$tmp/start.out" 2>"$tmp/start.err"
  status=$?
  if [ "$status" -eq 137 ]; then
    fail "$name: still running 10 s on (killed): it must exit 1"
  elif [ "$status" -ne 1 ]; then
    fail "$name: exit $status, not 1: $(cat "$tmp/start.err")"
  fi
  [ -s "$tmp/start.out" ] && fail "$name: printed on stdout: $(head -c 300 "$tmp/start.out")"
  grep -qiE -- "$pattern" "$tmp/start.err" ||
    fail "$name: stderr does not match '$pattern': $(cat "$tmp/start.err")"
}

# NAME REQUEST REPLY...: on the server started last, REQUEST (printf format) on a new
# connection must be answered with the lines REPLY... in order (carriage returns dropped).
expect_served() {
  local name=$1 request=$2 want reply
  shift 2
  if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    fail "$name: cannot connect to port $port"
    return
  fi
  # shellcheck disable=SC2059  # the request is the format on purpose
  printf "$request" >&3
  for want in "$@"; do
    reply=
    IFS= read -r -t 5 reply <&3 || reply="(no reply)"
    if [ "${reply%$'\r'}" != "$want" ]; then
      fail "$name: '$request' answered '$reply', not '$want'"
      break
    fi
  done
  exec 3<&-
}

# NAME CONNECTIONS: on the server started last (an echo server), each of CONNECTIONS
# connections in turn sends 256 KiB of random bytes and must get exactly them back (read
# meanwhile, so that neither side's buffers need to hold it all), within 10 s.
payload=
expect_echoed() {
  local name=$1 n=$2 size=262144 reader i
  if [ -z "$payload" ]; then
    payload=$tmp/payload
    head -c "$size" /dev/urandom >"$payload"
  fi
  for i in $(seq "$n"); do
    rm -f "$tmp/echoed"
    if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
      fail "$name: cannot connect to port $port"
      return
    fi
    timeout -s KILL 10 head -c "$size" <&3 >"$tmp/echoed" &
    reader=$!
    timeout -s KILL 10 cat "$payload" >&3 # bounded: a server that stops reading
    wait "$reader"
    exec 3<&-
    if ! cmp -s "$payload" "$tmp/echoed"; then
      fail "$name: connection $i of $n: $(stat -c %s "$tmp/echoed") bytes came back, not the" \
        "$size sent, or different ones"
      return
    fi
  done
}

# NAME PATH STATUS_LINE BODY_FILE: on the server started last (corio-httpd), GET PATH with
# Connection: close must be answered STATUS_LINE, a Content-Length and exactly the bytes
# of BODY_FILE, the connection then closed, within 5 s.
expect_get() {
  local name=$1 path=$2 status=$3 body=$4 size head_len length
  if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    fail "$name: cannot connect to port $port"
    return
  fi
  printf 'GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' "$path" >&3
  timeout -s KILL 5 cat <&3 >"$tmp/response"
  exec 3<&-
  size=$(stat -c %s "$body")
  head_len=$(grep -abo $'\r$' "$tmp/response" | sed -n 's/:.*//p' |
    awk 'NR > 1 && $1 == prev + 2 { print $1 + 2; exit } { prev = $1 }')
  length=$(sed -n 's/^content-length: *\([0-9]*\)\r$/\1/Ip' "$tmp/response" | head -1)
  if [ "$(head -1 "$tmp/response")" != "$status"$'\r' ]; then
    fail "$name: GET $path answered '$(head -1 "$tmp/response")', not '$status'"
  elif [ "$length" != "$size" ]; then
    fail "$name: GET $path: Content-Length '$length', not $size"
  elif [ -z "$head_len" ] || [ "$(stat -c %s "$tmp/response")" -ne $((head_len + size)) ] ||
       ! tail -c "$size" "$tmp/response" | cmp -s - "$body"; then
    fail "$name: GET $path: the body is not the $size bytes of $body"
  fi
}

# NAME LINE_PATTERN: the server started last printed exactly one line on stdout, and it
# matches LINE_PATTERN (grep -E, whole line) with the port it listens on.
expect_line() {
  local out="$tmp/out.$starts"
  [ "$(wc -l <"$out")" -eq 1 ] || fail "$1: stdout is not one line: $(cat "$out")"
  grep -qxE -- "$2" "$out" || fail "$1: the listening line '$(cat "$out")' is not '$2'"
}

# NAME TOOL PATTERN: the server started last has said, by the time its listening line
# came, exactly one line "TOOL: backend ..." on stderr, and it matches PATTERN (grep -E,
# the whole line after "TOOL: backend "). PATTERN "" : no such line.
expect_backend() {
  local lines
  lines=$(grep -E "^$2: backend " "$tmp/err")
  if [ -z "$3" ]; then
    [ -z "$lines" ] || fail "$1: a backend line without -v: $lines"
  elif [ "$(grep -c . <<<"$lines")" -ne 1 ]; then
    fail "$1: not one backend line on stderr: $(cat "$tmp/err")"
  elif ! grep -qxE -- "$2: backend $3" <<<"$lines"; then
    fail "$1: the backend line '$lines' does not match '$3'"
  fi
}

# ---- the listening line --------------------------------------------------------------
for mode in "--mode coroutines" "--mode callbacks" "--threads 3"; do
  # shellcheck disable=SC2086  # the mode is several words on purpose
  start_server "$echo_server" --port 0 $mode
  expect_line "corio-echo $mode" "listening on 127\.0\.0\.1:$port"
  expect_served "corio-echo $mode" 'ping\n' ping
  stop_server "corio-echo $mode"
done
for mode in "" "--threads 3"; do
  # shellcheck disable=SC2086
  start_server "$httpd" --port 0 $mode
  expect_line "corio-httpd $mode" "listening on http://127\.0\.0\.1:$port"
  expect_served "corio-httpd $mode" 'GET /hello HTTP/1.1\r\nHost: t\r\n\r\n' "HTTP/1.1 200 OK"
  stop_server "corio-httpd $mode"
done
start_server "$kv" --port 0
expect_line corio-kv "listening on 127\.0\.0\.1:$port"
expect_served corio-kv 'GET nothing\n' NOT_FOUND
stop_server corio-kv
# A name is resolved: the line shows the address bound.
start_server "$kv" --port 0 --host localhost
expect_line "corio-kv --host localhost" "listening on (127\.0\.0\.1|\[::1\]):$port"
stop_server "corio-kv --host localhost"
probe=$( (exec 3<>/dev/tcp/::1/1) 2>&1)
if [[ $probe == *refused* ]]; then # there is an IPv6 loopback (nothing listens on port 1)
  start_server "$httpd" --port 0 --host ::1
  expect_line "corio-httpd --host ::1" "listening on http://\[::1\]:$port"
  stop_server "corio-httpd --host ::1"
else
  echo "no IPv6 loopback: its listening line not checked"
fi

# ---- the backend line ------------------------------------------------------------------
# Here (no filter) the tools run on io_uring, unless this machine blocks it: then they
# fall back, and say so without -v too.
fallback_here=
start_server "$kv" --port 0 -v
if grep -q '^corio-kv: backend epoll (io_uring unavailable: ' "$tmp/err"; then
  fallback_here=1
  echo "io_uring is unavailable here too: $(cat "$tmp/err")"
fi
stop_server "corio-kv -v"
if [ -z "$fallback_here" ]; then
  for cmd in "$echo_server" "$echo_server --mode callbacks --threads 3" "$httpd" \
             "$httpd --threads 3" "$kv"; do
    name="$(basename "${cmd%% *}")${cmd#"${cmd%% *}"}"
    tool=$(basename "${cmd%% *}")
    # shellcheck disable=SC2086
    start_server $cmd --port 0 -v
    expect_backend "$name -v" "$tool" 'io_uring'
    stop_server "$name -v"
    # shellcheck disable=SC2086
    start_server $cmd --port 0
    expect_backend "$name" "$tool" ''
    stop_server "$name"
    # shellcheck disable=SC2086
    start_server env CORIO_BACKEND=epoll $cmd --port 0 -v
    expect_backend "$name -v, CORIO_BACKEND=epoll" "$tool" 'epoll \(CORIO_BACKEND=epoll\)'
    case $tool in
      corio-echo) expect_echoed "$name, CORIO_BACKEND=epoll" 3 ;;
      corio-httpd) expect_served "$name, CORIO_BACKEND=epoll" \
                     'GET /hello HTTP/1.1\r\nHost: t\r\n\r\n' "HTTP/1.1 200 OK" ;;
      corio-kv) expect_served "$name, CORIO_BACKEND=epoll" 'SET k v\nGET k\n' OK "VALUE v" ;;
    esac
    stop_server "$name -v, CORIO_BACKEND=epoll"
  done
fi

# ---- a bad CORIO_BACKEND ---------------------------------------------------------------
snap=$tmp/snapshot.kv
printf 'a 1\n' >"$snap"
for cmd in "$echo_server" "$echo_server --mode callbacks" "$echo_server --threads 3" \
           "$httpd" "$httpd --threads 3" "$kv" "$kv --snapshot $snap"; do
  # shellcheck disable=SC2086
  expect_no_start "$(basename "${cmd%% *}")${cmd#"${cmd%% *}"}, CORIO_BACKEND=bogus" \
    'CORIO_BACKEND=bogus' env CORIO_BACKEND=bogus $cmd --port 0
done
[ "$(cat "$snap")" = "a 1" ] || fail "corio-kv with a bad CORIO_BACKEND changed its snapshot"

# ---- a port in use --------------------------------------------------------------------
start_server "$echo_server" --port 0
busy=$port
for cmd in "$echo_server" "$echo_server --mode callbacks" "$echo_server --threads 3" \
           "$httpd" "$httpd --threads 3" "$kv" "$kv --snapshot $snap"; do
  # shellcheck disable=SC2086
  expect_no_start "$(basename "${cmd%% *}")${cmd#"${cmd%% *}"} on a port in use" \
    'cannot listen' $cmd --port "$busy"
done
expect_served "the server holding the port" 'still here\n' "still here"
stop_server "the server holding the port"

# ---- io_uring blocked -----------------------------------------------------------------
# The filter itself: it runs a program, and has checked that io_uring_setup now fails.
require_seccomp_filter "$no_uring"
fallback="epoll \\(io_uring unavailable: .*($blocked).*\\)"

# A file to serve from --root: 200 KiB of random bytes.
mkdir "$tmp/www"
head -c 204800 /dev/urandom >"$tmp/www/blob"
printf 'hello\n' >"$tmp/hello"

for how in "" --enosys; do
  # Each tool starts on epoll and serves.
  for mode in "--mode coroutines" "--mode coroutines --multishot" "--mode callbacks" \
              "--mode callbacks --plain-recv" "--mode coroutines --threads 3" \
              "--mode callbacks --threads 3"; do
    name="corio-echo $mode, io_uring blocked $how"
    # shellcheck disable=SC2086
    start_server "$no_uring" $how "$echo_server" --port 0 $mode
    expect_line "$name" "listening on 127\.0\.0\.1:$port"
    expect_backend "$name" corio-echo "$fallback"
    case $mode in
      *--threads*) expect_echoed "$name" 6 ;; # SO_REUSEPORT spreads them over the loops
      *) expect_echoed "$name" 1 ;;
    esac
    stop_server "$name"
  done
  # -v too: the same one backend line, and the recv it fell back to.
  name="corio-echo --mode callbacks -v, io_uring blocked $how"
  # shellcheck disable=SC2086
  start_server "$no_uring" $how "$echo_server" --port 0 --mode callbacks -v
  expect_backend "$name" corio-echo "$fallback"
  grep -q '^corio-echo: callback mode, one recv at a time' "$tmp/err" ||
    fail "$name: -v does not say it recvs one at a time: $(cat "$tmp/err")"
  expect_echoed "$name" 1
  stop_server "$name"

  for mode in "" "--threads 3"; do
    name="corio-httpd $mode, io_uring blocked $how"
    # shellcheck disable=SC2086
    start_server "$no_uring" $how "$httpd" --port 0 --root "$tmp/www" $mode
    expect_line "$name" "listening on http://127\.0\.0\.1:$port"
    expect_backend "$name" corio-httpd "$fallback"
    expect_get "$name" /hello "HTTP/1.1 200 OK" "$tmp/hello"
    expect_get "$name" /blob "HTTP/1.1 200 OK" "$tmp/www/blob"
    stop_server "$name"
  done

  name="corio-kv, io_uring blocked $how"
  # shellcheck disable=SC2086
  start_server "$no_uring" $how "$kv" --port 0 -v
  expect_line "$name" "listening on 127\.0\.0\.1:$port"
  expect_backend "$name" corio-kv "$fallback"
  expect_served "$name" 'SET key a value\nGET key\nGET a\nQUIT\n' OK "VALUE a value" \
    NOT_FOUND BYE
  stop_server "$name"
  name="corio-kv --snapshot, io_uring blocked $how"
  printf 'a 1\n' >"$tmp/epoll.kv"
  # shellcheck disable=SC2086
  start_server "$no_uring" $how "$kv" --port 0 --snapshot "$tmp/epoll.kv"
  expect_line "$name" "listening on 127\.0\.0\.1:$port"
  expect_backend "$name" corio-kv "$fallback"
  expect_served "$name" 'GET a\nSET key a value\nGET key\nSAVE\n' "VALUE 1" OK "VALUE a value" \
    "SAVED 2"
  expect_served "$name" 'SET b 2\n' OK
  stop_server "$name"
  [ "$(cat "$tmp/epoll.kv")" = $'a 1\nb 2\nkey a value' ] ||
    fail "$name: the snapshot at SIGTERM is '$(cat "$tmp/epoll.kv")'"

  # With io_uring demanded, none of them starts: exit 1, said why, as before the fallback.
  for mode in "--mode coroutines" "--mode coroutines --multishot" "--mode callbacks" \
              "--mode callbacks --plain-recv" "--mode coroutines --threads 3" \
              "--mode callbacks --threads 3"; do
    # shellcheck disable=SC2086
    expect_no_start "corio-echo $mode, CORIO_BACKEND=io_uring, io_uring blocked $how" \
      "$blocked" env CORIO_BACKEND=io_uring "$no_uring" $how "$echo_server" --port 0 $mode
  done
  for mode in "" "--threads 3"; do
    # shellcheck disable=SC2086
    expect_no_start "corio-httpd $mode, CORIO_BACKEND=io_uring, io_uring blocked $how" \
      "$blocked" env CORIO_BACKEND=io_uring "$no_uring" $how "$httpd" --port 0 $mode
  done
  for mode in "" "--snapshot $snap"; do
    # shellcheck disable=SC2086
    expect_no_start "corio-kv $mode, CORIO_BACKEND=io_uring, io_uring blocked $how" \
      "$blocked" env CORIO_BACKEND=io_uring "$no_uring" $how "$kv" --port 0 $mode
  done
done
[ "$(cat "$snap")" = "a 1" ] || fail "corio-kv that could not start changed its snapshot"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "test_tool_start: every check passed"
