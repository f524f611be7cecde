#!/usr/bin/env python3
"""A keep-alive HTTP/1.1 server that stalls like a process in a GC pause, for
tests/test_fetch_rate.sh: in each period (1 s) of its life, from STALL_AT into it until the
period's end (the last 500 ms), no response is sent; a response due then waits until the
stall ends. Every other response (to any method and path: "hello\\n", 200) goes at once.

    fetch_stall_server.py [--port N] [--stall-ms 500] [--period-ms 1000]

--port 0 (the default) takes a free port; --stall-ms 0 never stalls. Prints
"listening on http://127.0.0.1:PORT" once it listens; stop it with a signal (SIGTERM).
Python 3 standard library only (asyncio: one thread, every connection at once)."""

import argparse
import asyncio
import sys

BODY = b"hello\n"
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)
) + BODY
CLOSE_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY)
) + BODY


def main():
    ap = argparse.ArgumentParser(description="HTTP/1.1 server that stalls periodically")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--stall-ms", type=float, default=500)
    ap.add_argument("--period-ms", type=float, default=1000)
    a = ap.parse_args()
    if not 0 <= a.stall_ms < a.period_ms:
        ap.error("--stall-ms must be from 0 to below --period-ms")
    period, stall = a.period_ms / 1000, a.stall_ms / 1000
    asyncio.run(serve(a.port, period, stall))


async def serve(port, period, stall):
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def wait_out_stall():
        if stall == 0:
            return
        phase = (loop.time() - start) % period
        if phase >= period - stall:
            await asyncio.sleep(period - phase)

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                close = lines[0].endswith(b"HTTP/1.0")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value.strip())
                    elif name == b"connection":
                        v = value.strip().lower()
                        close = v == b"close" or (close and v != b"keep-alive")
                if length:
                    await reader.readexactly(length)
                await wait_out_stall()
                writer.write(CLOSE_RESPONSE if close else RESPONSE)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                ValueError):
            pass
        finally:
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
