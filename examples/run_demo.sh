#!/usr/bin/env bash
# The main demo (make run): corio-httpd on a free loopback port, and corio-fetch making
# REQUESTS requests to its /hello over CONNS keep-alive connections, with its progress line
# (when stderr is a terminal) and its summary. The server is stopped on the way out, however
# the demo ends.
#   examples/run_demo.sh [BUILD_DIR]        default: build
# Environment: REQUESTS (default 200000), CONNS (default 256).
# When corio-httpd has not been built, the test server fetch_badserver stands in, and the
# demo says so.
set -euo pipefail
build=${1:-build}
requests=${REQUESTS:-200000}
conns=${CONNS:-256}
fetch=$build/examples/corio-fetch
httpd=$build/examples/corio-httpd
badserver=$build/examples/fetch_badserver

[ -x "$fetch" ] || { echo "run_demo: no corio-fetch at $fetch (build first)" >&2; exit 1; }
if [ -x "$httpd" ]; then
  server=("$httpd" --port 0)
  name=corio-httpd
elif [ -x "$badserver" ]; then
  echo "run_demo: corio-httpd is not built; using the test server fetch_badserver instead" >&2
  server=("$badserver" --port 0)
  name=fetch_badserver
else
  echo "run_demo: neither corio-httpd nor fetch_badserver is built in $build" >&2
  exit 1
fi

# FILE [SCHEME]: prints the port of the first complete listening line in FILE,
# "listening on [SCHEME://]ADDR:PORT" (examples/serving.h), or of the first for SCHEME;
# fails while there is none.
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

out=$(mktemp)
pid=
stop() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -f "$out"
}
trap stop EXIT
trap 'exit 130' INT TERM

"${server[@]}" >"$out" &
pid=$!
port=
for _ in $(seq 200); do
  port=$(listening_port "$out" http) && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.05
done
[ -n "$port" ] || { echo "run_demo: $name did not start" >&2; exit 1; }

url=http://127.0.0.1:$port/hello
echo "$name listening on 127.0.0.1:$port"
echo "corio-fetch -n $requests -c $conns $url"
echo
"$fetch" -n "$requests" -c "$conns" "$url"
