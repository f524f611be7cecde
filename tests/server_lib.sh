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

# Starts "$@" in the background and sets pid and port from its "port N" first line;
# stderr goes to $tmp/err. Exits the test if no port line comes.
starts=0
start_server() {
  # A file of its own per start: a reused one could still show the previous server's
  # port line in the moment before the new process truncates it.
  starts=$((starts + 1))
  local port_file="$tmp/out.$starts"
  "$@" >"$port_file" 2>"$tmp/err" &
  pid=$!
  port=
  for _ in $(seq 200); do
    port=$(sed -n '1s/^port \([0-9][0-9]*\)$/\1/p' "$port_file")
    [ -n "$port" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "$* did not print its port: $(cat "$tmp/err")" >&2
  exit 1
}
