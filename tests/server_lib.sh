# Shared by the shell tests that drive a server (sourced, not run): a scratch directory,
# cleanup that stops the server, failure counting, and start_server.
# shellcheck shell=bash
tmp=$(mktemp -d)
pid=
cleanup() { # graceful shutdown is checked by the tests themselves, not here
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# NAME: SIGTERM must end the server started last with 0, within 10 s (else it is killed
# and the failure says so).
stop_server_within_10s() {
  kill -TERM "$pid"
  local _status
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if kill -0 "$pid" 2>/dev/null; then
    fail "$1: still running 10 s after SIGTERM (killed)"
    kill -KILL "$pid"
  fi
  wait "$pid"
  _status=$?
  pid=
  [ "$_status" -eq 0 ] || fail "$1: exit $_status on SIGTERM: $(cat "$tmp/err")"
}

# FILE [SCHEME]: prints the port of the first complete listening line in FILE,
# "listening on [SCHEME://]ADDR:PORT" (examples/serving.h has the format), or of the first
# one for SCHEME when given; fails while there is none.
listening_port() {
  local line
  while IFS= read -r line; do # a line still being written has no '\n' yet: not read
    case $line in
      "listening on ${2:+$2://}"*)
        [[ ${line##*:} =~ ^[0-9]+$ ]] || continue
        echo "${line##*:}"
        return 0
        ;;
    esac
  done <"$1"
  return 1
}

# Starts "$@" in the background and sets pid and port from its first listening line;
# stderr goes to $tmp/err. Exits the test if no listening line comes.
starts=0
start_server() {
  # A file of its own per start: a reused one could still show the previous server's
  # listening line in the moment before the new process truncates it.
  starts=$((starts + 1))
  local out_file="$tmp/out.$starts"
  "$@" >"$out_file" 2>"$tmp/err" &
  pid=$!
  port=
  for _ in $(seq 200); do
    # shellcheck disable=SC2034  # port is for the test that sources this file
    port=$(listening_port "$out_file") && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "$* did not print its listening line: $(cat "$tmp/err")" >&2
  exit 1
}

# Stops the server with SIGTERM, which must end it with 0 (and, under ASan, no leak
# report); counts a check (the sourcing test defines check).
stop_server() {
  kill -TERM "$pid"
  wait "$pid"
  local status=$?
  pid=
  check
  [ "$status" -eq 0 ] || fail "exit $status on SIGTERM: $(cat "$tmp/err")"
}

# NO_URING [ON_SKIP]: checks that tests/no_uring can install its seccomp filter; where it
# cannot, runs ON_SKIP (a command, e.g. a server's stop), reports the checks made so far
# and exits 77 (skipped). Sets `blocked`, the pattern corio's message about the blocked
# io_uring matches: the seccomp filter, unless the kernel's sysctl limits io_uring anyway
# (corio_loop_setup_hint then names the sysctl first).
require_seccomp_filter() {
  local status
  "$1" true
  status=$?
  if [ "$status" -eq 77 ]; then
    [ -z "${2:-}" ] || $2
    [ "$failures" -eq 0 ] || { echo "$failures check(s) failed" >&2; exit 1; }
    echo "no seccomp filter can be installed here: the io_uring-blocked checks skipped"
    exit 77
  fi
  [ "$status" -eq 0 ] || { echo "FAIL: no_uring true exited $status" >&2; exit 1; }
  local disabled
  disabled=$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)
  blocked='io_uring.*seccomp|seccomp.*io_uring'
  [ "$disabled" = 0 ] || blocked='io_uring'
}
