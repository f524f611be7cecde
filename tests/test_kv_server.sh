#!/usr/bin/env bash
# ctest "test_kv_server" (label examples): corio-kv on an ephemeral port of 127.0.0.1,
# driven through bash's /dev/tcp (no nc, curl or python): SET/GET/DEL/KEYS round trips,
# two clients seeing each other's writes, pipelined commands, an over-long line answered
# with an error on a connection that stays usable, SAVE writing the snapshot (and two SAVEs
# at once), the snapshot read back at start-up, bad flags, a port in use, and SIGTERM or
# SIGINT ending it with exit 0 while a client is connected (leak-free under ASan).
# Shutdown keeps what it acknowledged: 1,000 SETs acknowledged after a SAVE are in the
# snapshot written at SIGTERM and read back by a restart; commands that had arrived when
# the signal came (the server held with SIGSTOP meanwhile, so that they surely had) are
# all answered, on accepted connections and on ones still in the backlog, a line cut short
# is not run, and each connection ends with a clean end of stream, never a reset; ten
# clients each waiting on a SAVE get SAVED n, then the end of the stream.
#   tests/test_kv_server.sh PATH/TO/corio-kv
# shellcheck disable=SC2317  # cleanup runs from a trap
set -uo pipefail
server=${1:?usage: test_kv_server.sh CORIO_KV}
# shellcheck source=tests/server_lib.sh
source "$(dirname "$0")/server_lib.sh"

# Starts corio-kv with "$@" on an ephemeral port (server_lib.sh's start_server).
start_kv() { start_server "$server" --port 0 "$@"; }

# Stops the server with SIGNAL and checks it exits 0 within 10 s.
stop_server() {
  kill "-$1" "$pid"
  wait_exit "SIG$1"
}

# WHAT: checks the server exits 0 within 10 s (of a signal sent already).
wait_exit() {
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    fail "no exit 10 s after $1"
    kill -KILL "$pid"
  fi
  wait "$pid"
  local status=$?
  pid=
  [ "$status" -eq 0 ] || fail "exit $status on $1: $(cat "$tmp/err")"
}

connect() { # FD: opens a connection on that fd number
  eval "exec $1<>/dev/tcp/127.0.0.1/$port" || { fail "cannot connect to port $port"; exit 1; }
}

# FD COMMAND EXPECTED: sends one line, checks the one reply line.
expect() {
  local reply=
  printf '%s\n' "$2" >&"$1"
  IFS= read -r -t 5 reply <&"$1" || reply="(no reply)"
  [ "$reply" = "$3" ] || fail "'$2' -> '$reply', expected '$3'"
}

# FD EXPECTED: checks the next reply line only.
expect_reply() {
  local reply=
  IFS= read -r -t 5 reply <&"$1" || reply="(no reply)"
  [ "$reply" = "$2" ] || fail "got '$reply', expected '$2'"
}

expect_eof() { # FD WHAT: the server must have closed the connection
  local reply
  if IFS= read -r -t 5 reply <&"$1"; then fail "$2: got '$reply', expected end of stream"; fi
}

# FD: reads one reply line into $reply; returns 0 for a line, 1 at a clean end of stream,
# 2 for a reset or any other read error (said in $reply), 3 when nothing came in 5 s.
read_reply() {
  local status
  reply=
  IFS= read -r -t 5 reply <&"$1" 2>"$tmp/read.err"
  status=$?
  if [ "$status" -eq 0 ]; then return 0; fi
  if [ "$status" -gt 128 ]; then reply="(nothing in 5 s)" && return 3; fi
  if [ -s "$tmp/read.err" ]; then reply=$(cat "$tmp/read.err") && return 2; fi
  [ -z "$reply" ] || { reply="(a line without its newline: '$reply')" && return 2; }
  return 1
}

# FD WHAT: the connection must end cleanly now (a FIN: no reset, no more replies).
expect_clean_eof() {
  read_reply "$1"
  case $? in
    0) fail "$2: got '$reply', expected the end of the stream" ;;
    2) fail "$2: $reply, expected a clean end of the stream" ;;
    3) fail "$2: no end of the stream in 5 s" ;;
  esac
}

# FD N: sends N pipelined SETs (key kI, value vI) in one write.
send_sets() {
  local i
  for i in $(seq "$2"); do printf 'SET k%d v%d\n' "$i" "$i"; done >&"$1"
}

# FD N WHAT: the next N replies must all be OK.
expect_oks() {
  local i
  for i in $(seq "$2"); do
    read_reply "$1" && [ "$reply" = OK ] && continue
    fail "$3: reply $i of $2: '$reply'"
    return 1
  done
}

# FILE N [LINES...]: the snapshot must hold exactly k1..kN (values v1..vN) and LINES.
expect_snapshot() {
  local file=$1 n=$2 i
  shift 2
  {
    for i in $(seq "$n"); do echo "k$i v$i"; done
    [ $# -eq 0 ] || printf '%s\n' "$@"
  } | LC_ALL=C sort >"$tmp/want"
  cmp -s "$file" "$tmp/want" ||
    fail "snapshot $file: $(wc -l <"$file" 2>&1) lines, not the $(wc -l <"$tmp/want") expected"
  [ -e "$file.tmp" ] && fail "snapshot: $file.tmp left behind"
}

snap=$tmp/snapshot.kv
start_kv --snapshot "$snap"
connect 3
connect 4

# Round trips.
expect 3 "GET a" "NOT_FOUND"
expect 3 "SET a 1" "OK"
expect 3 "GET a" "VALUE 1"
expect 3 "SET a 2" "OK"
expect 3 "GET a" "VALUE 2"
expect 3 "SET greeting hello  there world" "OK"
expect 3 "GET greeting" "VALUE hello  there world"
expect 3 "SET empty " "OK"
expect 3 "GET empty" "VALUE "
expect 3 "KEYS" "KEYS 3 a empty greeting"
expect 3 "DEL empty" "DELETED"
expect 3 "DEL empty" "NOT_FOUND"
expect 3 "get a" "VALUE 2"
printf 'GET a\r\n' >&3 && expect_reply 3 "VALUE 2"

# Errors get one reply line each, and the connection goes on.
expect 3 "" "ERR unknown command (GET, SET, DEL, KEYS, SAVE, QUIT)"
expect 3 "FLY away" "ERR unknown command (GET, SET, DEL, KEYS, SAVE, QUIT)"
expect 3 "GET" "ERR usage: GET key"
expect 3 "GET two words" "ERR usage: GET key"
expect 3 "SET lonely" "ERR usage: SET key value"
expect 3 "DEL" "ERR usage: DEL key"
expect 3 "KEYS extra" "ERR usage: SET key value | KEYS | SAVE | QUIT"

# Over-long lines: just past the limit, and far past the read buffer. The next command on
# the same connection works.
long=$(printf 'x%.0s' $(seq 1100))
expect 3 "SET k $long" "ERR line too long (limit 1024 bytes)"
expect 3 "GET a" "VALUE 2"
huge=$(head -c 100000 /dev/zero | tr '\0' y)
expect 3 "$huge" "ERR line too long (limit 1024 bytes)"
expect 3 "GET k" "NOT_FOUND"
# The longest line accepted: 1024 bytes with its '\n'.
v=$(printf 'v%.0s' $(seq 1017)) # "SET k " + 1017 + '\n' = 1024
expect 3 "SET k $v" "OK"
expect 3 "GET k" "VALUE $v"
expect 3 "SET k ${v}v" "ERR line too long (limit 1024 bytes)"
expect 3 "DEL k" "DELETED"

# Two clients see each other's writes.
expect 4 "GET a" "VALUE 2"
expect 4 "SET b from-4" "OK"
expect 3 "GET b" "VALUE from-4"
expect 3 "DEL b" "DELETED"
expect 4 "GET b" "NOT_FOUND"

# Pipelined: three commands in one write, three replies in order.
printf 'SET p 1\nGET p\nDEL p\n' >&4
expect_reply 4 "OK"
expect_reply 4 "VALUE 1"
expect_reply 4 "DELETED"

# SAVE writes "key value" lines, sorted by key.
expect 3 "SET b two words" "OK"
expect 3 "SAVE" "SAVED 3"
printf 'a 2\nb two words\ngreeting hello  there world\n' >"$tmp/expected"
cmp -s "$snap" "$tmp/expected" || fail "snapshot: $(cat "$snap" 2>&1)"
[ -e "$snap.tmp" ] && fail "snapshot: $snap.tmp left behind"

# Two SAVEs at once (the mutex orders them): both succeed, the file is whole.
expect 4 "SET c 3" "OK"
printf 'SAVE\n' >&3
printf 'SAVE\n' >&4
expect_reply 3 "SAVED 4"
expect_reply 4 "SAVED 4"
printf 'c 3\n' >>"$tmp/expected"
sort "$tmp/expected" -o "$tmp/expected"
cmp -s "$snap" "$tmp/expected" || fail "snapshot after two SAVEs: $(cat "$snap" 2>&1)"

# QUIT says BYE and closes; the other connection carries on.
expect 4 "QUIT" "BYE"
expect_eof 4 "after QUIT"
exec 4<&-
expect 3 "GET c" "VALUE 3"

# SIGTERM with a client connected: exit 0, and the client sees the end of the stream.
stop_server TERM
expect_eof 3 "after SIGTERM"
exec 3<&-

# The snapshot is read back at start-up; SIGINT stops the server too.
start_kv --snapshot "$snap"
connect 3
expect 3 "KEYS" "KEYS 4 a b c greeting"
expect 3 "GET b" "VALUE two words"
stop_server INT
exec 3<&-

# Without --snapshot, SAVE is refused and nothing else changes.
start_kv
connect 3
expect 3 "SAVE" "ERR no snapshot file (start with --snapshot FILE)"
expect 3 "KEYS" "KEYS 0"

# Errors: bad flags exit 2 with a usage line; a port in use exits 1 and says so; a
# snapshot that is not one exits 1.
for bad in "--port 70000" "--port" "--port x" "--snapshot" "--host" "--bogus"; do
  # shellcheck disable=SC2086  # several words on purpose
  "$server" $bad >/dev/null 2>"$tmp/bad"
  status=$?
  [ "$status" -eq 2 ] || fail "corio-kv $bad exited $status, not 2"
  grep -q 'usage' "$tmp/bad" || fail "corio-kv $bad printed no usage"
done
"$server" --port "$port" >/dev/null 2>"$tmp/busy"
status=$?
[ "$status" -eq 1 ] || fail "corio-kv on a port in use exited $status, not 1"
grep -q 'cannot listen' "$tmp/busy" || fail "port in use: no clear message: $(cat "$tmp/busy")"
expect 3 "GET a" "NOT_FOUND" # the first server is unharmed
stop_server TERM
exec 3<&-

# ---- shutdown keeps what it acknowledged ----------------------------------------------

# 1,000 SETs acknowledged after a SAVE: SIGTERM writes them all to the snapshot, and a
# restart reads them back.
final=$tmp/final.kv
start_kv --snapshot "$final"
connect 3
expect 3 "SET first 0" "OK"
expect 3 "SAVE" "SAVED 1"
send_sets 3 1000
expect_oks 3 1000 "SETs after a SAVE"
stop_server TERM
expect_clean_eof 3 "after SIGTERM"
exec 3<&-
expect_snapshot "$final" 1000 "first 0"
start_kv --snapshot "$final"
connect 3
printf 'KEYS\n' >&3
read_reply 3
case $reply in "KEYS 1001 "*) ;; *) fail "after a restart: '${reply:0:40}...', not 1001 keys" ;; esac
expect 3 "GET k1" "VALUE v1"
expect 3 "GET k1000" "VALUE v1000"
expect 3 "GET first" "VALUE 0"

# Commands that had arrived when SIGTERM came are all answered, and every connection ends
# cleanly. The server is stopped (SIGSTOP) while the commands go out and the signal is
# sent, so they surely are in its sockets when it sees the signal: 1,000 SETs and a last
# line cut short on one connection; a SET on each of four connections made meanwhile (in
# the listen backlog, not accepted yet); a SET and a SAVE on another.
kill -STOP "$pid"
send_sets 3 1000 # the same keys and values again: the snapshot stays the same
printf 'SET cut short' >&3
for fd in 6 7 8 9; do
  connect $fd
  printf 'SET backlog%d 1\n' $fd >&$fd
done
connect 5
printf 'SET late 2\nSAVE\n' >&5
kill -TERM "$pid"
kill -CONT "$pid"
expect_oks 3 1000 "SETs that had arrived at SIGTERM"
expect_clean_eof 3 "SIGTERM with 1,000 SETs arriving"
for fd in 6 7 8 9; do
  expect_oks $fd 1 "a SET on a connection in the backlog at SIGTERM"
  expect_clean_eof $fd "SIGTERM with a connection in the backlog"
  eval "exec $fd<&-"
done
expect_oks 5 1 "a SET before a SAVE at SIGTERM"
read_reply 5
# 1,002 keys, plus those of the backlog's SETs that ran before it.
[[ $reply =~ ^SAVED\ 100[2-6]$ ]] || fail "a SAVE that had arrived at SIGTERM: '$reply'"
expect_clean_eof 5 "SIGTERM with a SAVE arriving"
exec 3<&- 5<&-
wait_exit "SIGTERM with commands arriving"
expect_snapshot "$final" 1000 "first 0" "backlog6 1" "backlog7 1" "backlog8 1" "backlog9 1" \
  "late 2"

# Ten clients each waiting on a SAVE (of 5,000 keys) when SIGTERM comes: each gets
# SAVED n and then a clean end of stream, never a reset. The first round sends the
# signal while the server is held as above; the second sends it while it runs.
for round in held running; do
  rm -f "$final"
  start_kv --snapshot "$final"
  connect 3
  send_sets 3 5000
  expect_oks 3 5000 "filling the table"
  for fd in $(seq 10 19); do connect "$fd"; done
  [ "$round" = held ] && kill -STOP "$pid"
  for fd in $(seq 10 19); do printf 'SAVE\n' >&"$fd"; done
  kill -TERM "$pid"
  [ "$round" = held ] && kill -CONT "$pid"
  for fd in $(seq 10 19); do
    read_reply "$fd"
    case $? in
      0) [ "$reply" = "SAVED 5000" ] || fail "$round: client $fd waiting on SAVE got '$reply'" ;;
      1) fail "$round: client $fd waiting on SAVE got no reply (a clean end of stream)" ;;
      2) fail "$round: client $fd waiting on SAVE: $reply" ;;
      3) fail "$round: client $fd waiting on SAVE: no reply in 5 s" ;;
    esac
    expect_clean_eof "$fd" "$round: client $fd after its SAVE at SIGTERM"
    eval "exec $fd<&-"
  done
  expect_clean_eof 3 "$round: an idle client at SIGTERM"
  exec 3<&-
  wait_exit "SIGTERM with ten SAVEs waiting ($round)"
  expect_snapshot "$final" 5000
done

printf 'no-space-here\n' >"$tmp/bad.kv"
"$server" --port 0 --snapshot "$tmp/bad.kv" >/dev/null 2>"$tmp/badsnap"
status=$?
[ "$status" -eq 1 ] || fail "corio-kv with a malformed snapshot exited $status, not 1"
grep -q 'line 1' "$tmp/badsnap" || fail "malformed snapshot: no line number: $(cat "$tmp/badsnap")"

[ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
echo "corio-kv: every check passed"
