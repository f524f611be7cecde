#!/usr/bin/env bash
# ctest "test_tool_start" (label examples): how corio-echo, corio-httpd and corio-kv start.
# - The listening line (examples/serving.h): "listening on 127.0.0.1:PORT" for echo and kv,
#   "listening on http://127.0.0.1:PORT" for httpd, "[ADDR]" for IPv6, one line for several
#   loops on one address; once it is printed, a client is served at once.
# - Where io_uring is blocked: under tests/no_uring (a seccomp filter making io_uring_setup,
#   io_uring_enter and io_uring_register fail with EPERM, as Docker's default profile does,
#   or with ENOSYS, as a filter hiding them does), in each mode and with several loops,
#   each tool exits 1 within 10 s, prints nothing on stdout (no listening line), and names
#   io_uring and seccomp on stderr.
# - On a port in use: exit 1 within 10 s, nothing on stdout, "cannot listen" on stderr;
#   the server holding the port is unharmed.
# Skipped (77) where no seccomp filter can be installed.
#   tests/test_tool_start.sh NO_URING CORIO_ECHO CORIO_HTTPD CORIO_KV
# shellcheck disable=SC2317  # cleanup runs from a trap
set -uo pipefail
usage="usage: test_tool_start.sh NO_URING CORIO_ECHO CORIO_HTTPD CORIO_KV"
no_uring=${1:?$usage}
echo_server=${2:?$usage}
httpd=${3:?$usage}
kv=${4:?$usage}
# shellcheck source=tests/server_lib.sh
source "$(dirname "$0")/server_lib.sh"

stop_server() { # NAME: SIGTERM must end the server started last with 0
  kill -TERM "$pid"
  wait "$pid"
  local status=$?
  pid=
  [ "$status" -eq 0 ] || fail "$1: exit $status on SIGTERM: $(cat "$tmp/err")"
}

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

# NAME REQUEST REPLY: on the server started last, REQUEST (printf format) on a new
# connection must be answered with the line REPLY (a carriage return dropped).
expect_served() {
  local reply=
  if ! exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    fail "$1: cannot connect to port $port"
    return
  fi
  # shellcheck disable=SC2059  # the request is the format on purpose
  printf "$2" >&3
  IFS= read -r -t 5 reply <&3 || reply="(no reply)"
  exec 3<&-
  [ "${reply%$'\r'}" = "$3" ] || fail "$1: '$2' answered '$reply', not '$3'"
}

# NAME LINE_PATTERN: the server started last printed exactly one line on stdout, and it
# matches LINE_PATTERN (grep -E, whole line) with the port it listens on.
expect_line() {
  local out="$tmp/out.$starts"
  [ "$(wc -l <"$out")" -eq 1 ] || fail "$1: stdout is not one line: $(cat "$out")"
  grep -qxE -- "$2" "$out" || fail "$1: the listening line '$(cat "$out")' is not '$2'"
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

# ---- io_uring blocked -----------------------------------------------------------------
# The filter itself: it runs a program, and has checked that io_uring_setup now fails.
"$no_uring" true
status=$?
if [ "$status" -eq 77 ]; then
  echo "no seccomp filter can be installed here: skipped"
  exit 77
fi
[ "$status" -eq 0 ] || { echo "FAIL: no_uring true exited $status" >&2; exit 1; }

# What the tools say names the cause: the seccomp filter, unless the kernel's sysctl
# limits io_uring anyway (corio_loop_setup_hint then names the sysctl first).
disabled=$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)
blocked='io_uring.*seccomp|seccomp.*io_uring'
[ "$disabled" = 0 ] || blocked='io_uring'

snap=$tmp/snapshot.kv
printf 'a 1\n' >"$snap"
for how in "" --enosys; do
  for mode in "--mode coroutines" "--mode coroutines --multishot" "--mode callbacks" \
              "--mode callbacks --plain-recv" "--mode coroutines --threads 3" \
              "--mode callbacks --threads 3"; do
    # shellcheck disable=SC2086
    expect_no_start "corio-echo $mode, io_uring blocked $how" "$blocked" \
      "$no_uring" $how "$echo_server" --port 0 $mode
  done
  for mode in "" "--threads 3"; do
    # shellcheck disable=SC2086
    expect_no_start "corio-httpd $mode, io_uring blocked $how" "$blocked" \
      "$no_uring" $how "$httpd" --port 0 $mode
  done
  for mode in "" "--snapshot $snap"; do
    # shellcheck disable=SC2086
    expect_no_start "corio-kv $mode, io_uring blocked $how" "$blocked" \
      "$no_uring" $how "$kv" --port 0 $mode
  done
done
[ "$(cat "$snap")" = "a 1" ] || fail "corio-kv that could not start changed its snapshot"

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

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "test_tool_start: every check passed"
