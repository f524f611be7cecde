#!/usr/bin/env python3
"""A keep-alive HTTP/1.1 server that records what a client's politeness looks like, for
tests/test_fetch_polite.sh. For every request it prints one line on stdout:

    REQ <monotonic seconds> <path> <connections open now> <most connections open at once>

and answers 200 "ok\\n", except:
    /slow         after 30 ms (so that concurrent clients overlap)
    /busy?ID      429 with "Retry-After: SECONDS" (--retry-after, default 1) the first time
                  ID is asked for, 200 after
    /unavailable  503 with "Retry-After: SECONDS" every time

    fetch_polite_server.py [--port N] [--retry-after S]

--port 0 (the default) takes a free port. Prints "listening on http://127.0.0.1:PORT" once
it listens; stop it with a signal (SIGTERM). Python 3 standard library only."""

import argparse
import asyncio
import sys
import time


def response(status, reason, extra=b"", body=b"ok\n"):
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n"
        % (status, reason, len(body), extra)
    ) + body


def main():
    ap = argparse.ArgumentParser(description="HTTP/1.1 server recording politeness")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--retry-after", type=int, default=1)
    a = ap.parse_args()
    asyncio.run(serve(a.port, a.retry_after))


async def serve(port, retry_after):
    state = {"open": 0, "max": 0, "busy": set()}
    retry = b"Retry-After: %d\r\n" % retry_after

    async def handle(reader, writer):
        state["open"] += 1
        state["max"] = max(state["max"], state["open"])
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b" ", 2)[1].decode("latin-1")
                path, _, query = target.partition("?")
                print("REQ %.6f %s %d %d" % (time.monotonic(), path, state["open"], state["max"]),
                      flush=True)
                if path == "/slow":
                    await asyncio.sleep(0.03)
                    out = response(200, b"OK")
                elif path == "/busy" and query not in state["busy"]:
                    state["busy"].add(query)
                    out = response(429, b"Too Many Requests", retry)
                elif path == "/unavailable":
                    out = response(503, b"Service Unavailable", retry)
                else:
                    out = response(200, b"OK")
                writer.write(out)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            state["open"] -= 1
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print("listening on http://127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
