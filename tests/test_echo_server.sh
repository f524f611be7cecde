#!/usr/bin/env bash
# ctest "test_echo_server" (label servers): corio-echo in each of its modes on an
# ephemeral port of 127.0.0.1, driven by echo_load (which checks every byte): 1 B to 1 MiB
# messages over many connections, clients killed mid-message while others keep going,
# half-closing clients that must still get their whole echo, bad flags, a port in use,
# and SIGTERM ending it cleanly with an idle client connected (exit 0; leak-free under
# ASan).
#   tests/test_echo_server.sh PATH/TO/corio-echo PATH/TO/echo_load PATH/TO/hostile
set -uo pipefail
server=${1:?usage: test_echo_server.sh CORIO_ECHO ECHO_LOAD HOSTILE}
load=${2:?usage: test_echo_server.sh CORIO_ECHO ECHO_LOAD HOSTILE}
hostile=${3:?usage: test_echo_server.sh CORIO_ECHO ECHO_LOAD HOSTILE}
# shellcheck source=tests/server_lib.sh
source "$(dirname "$0")/server_lib.sh"

expect_ok() { # NAME ARGS...: echo_load must exit 0 and report no error
  local name=$1
  shift
  if out=$("$load" --port "$port" "$@" --json); then
    case $out in *'"ok":true'*) ;; *) fail "$mode: $name: $out" ;; esac
  else
    fail "$mode: $name: echo_load exited $?: $out"
  fi
}

# SIGTERM must end the server with 0 within 10 s, although a client that sent nothing
# stays connected.
stop_server() {
  exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "$mode: no idle connection"
  stop_server_within_10s "$mode, an idle client connected"
  exec 3<&-
}

for mode in "--mode coroutines" "--mode coroutines --multishot" "--mode callbacks" \
            "--mode callbacks --plain-recv" \
            "--mode coroutines --threads 2" "--mode callbacks --threads 2"; do
  # shellcheck disable=SC2086  # the mode is several words on purpose
  start_server "$server" --port 0 $mode
  expect_ok "1 B x 64 connections" -c 64 -s 1 -n 20000
  expect_ok "4 KiB x 256 connections" -c 256 -s 4096 -n 5000
  expect_ok "64 KiB x 16 connections" -c 16 -s 65536 -n 320
  expect_ok "1 MiB x 8 connections" -c 8 -s 1M -n 24
  # Clients killed mid-message (their unread echo makes the kernel reset the
  # connections) while a well-behaved client runs alongside: it must get every byte.
  "$load" --port "$port" -c 16 -s 4M -d 30 >/dev/null 2>&1 &
  doomed=$!
  expect_ok "alongside resets" -c 8 -s 100003 -n 200
  kill -KILL "$doomed"
  wait "$doomed" 2>/dev/null
  expect_ok "after resets" -c 32 -s 512 -n 5000
  # Send up to 1 MiB, shut down writing, read the echo to the end: all of it must come
  # back before the server closes.
  "$hostile" --mode halfclose --port "$port" -c 8 -n 40 -s 1M --seed 7 >"$tmp/half" 2>&1 ||
    fail "$mode: half-close lost data: $(cat "$tmp/half")"
  stop_server
done

# Errors: bad flags exit 2 with a message; a port in use exits 1 and says so.
for bad in "--port 70000" "--mode threads" "--threads 0" "--bogus"; do
  # shellcheck disable=SC2086
  "$server" $bad >/dev/null 2>"$tmp/bad"
  status=$?
  [ "$status" -eq 2 ] || fail "corio-echo $bad exited $status, not 2"
  grep -q 'usage' "$tmp/bad" || fail "corio-echo $bad printed no usage"
done
mode=busy-port
start_server "$server" --port 0
"$server" --port "$port" >/dev/null 2>"$tmp/busy"
status=$?
[ "$status" -eq 1 ] || fail "corio-echo on a port in use exited $status, not 1"
grep -q 'cannot listen' "$tmp/busy" || fail "port in use: no clear message: $(cat "$tmp/busy")"
stop_server

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "corio-echo: every mode passed"
