#!/usr/bin/env python3
"""Helpers of scripts/pg-far and scripts/pg-cut (standard library only).

  proxy LISTEN_PORT DELAY_MS        TCP proxy to PostgreSQL (PGHOST:PGPORT) that holds every
                                    chunk DELAY_MS in each direction: a database further away.
  create PORT N                     N sequential POST /v1/threads/runs (a thread with one
                                    message), prints their p50 and p90 in ms.
  cut PORT DATABASE PAUSE THREADS   THREADS clients GET one thread for 3 s, each pausing PAUSE s
                                    between requests; at 1 s every backend named 'assistd' on
                                    DATABASE is terminated; prints the responses by status.
"""
import asyncio, http.client, json, os, statistics, subprocess, sys, threading, time

PGHOST, PGPORT = os.environ.get("PGHOST", "127.0.0.1"), int(os.environ.get("PGPORT", "5432"))
HEADERS = {"Content-Type": "application/json", "OpenAI-Beta": "assistants=v1"}


def call(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=HEADERS)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def proxy(port, delay_ms):
    delay = delay_ms / 1000

    async def pump(r, w):
        try:
            while data := await r.read(65536):
                await asyncio.sleep(delay)
                w.write(data)
                await w.drain()
        except OSError:
            pass
        finally:
            w.close()

    async def handle(cr, cw):
        sr, sw = await asyncio.open_connection(PGHOST, PGPORT)
        await asyncio.gather(pump(cr, sw), pump(sr, cw))

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def create(port, n):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    status, data = call(conn, "POST", "/v1/assistants", {"model": "gpt-4"})
    assert status == 200, (status, data)
    body = {"assistant_id": json.loads(data)["id"], "thread": {"messages": [{"role": "user", "content": "hi"}]}}
    times = []
    for _ in range(n):
        t = time.perf_counter()
        status, data = call(conn, "POST", "/v1/threads/runs", body)
        assert status == 200, (status, data)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(f"thread-and-run creation over {n}: p50 {statistics.median(times):.2f} ms, p90 {times[int(n * 0.9)]:.2f} ms")


def cut(port, database, pause, threads):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    status, data = call(conn, "POST", "/v1/threads", {})
    assert status == 200, (status, data)
    path = f"/v1/threads/{json.loads(data)['id']}"
    codes, lock, stop = {}, threading.Lock(), time.time() + 3

    def client():
        c = http.client.HTTPConnection("127.0.0.1", port)
        while time.time() < stop:
            status, _ = call(c, "GET", path)
            with lock:
                codes[status] = codes.get(status, 0) + 1
            time.sleep(pause)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for w in workers:
        w.start()
    time.sleep(1)
    cut = subprocess.run(
        ["psql", "-h", PGHOST, "-p", str(PGPORT), "-U", "postgres", "-d", database, "-Atc",
         "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
         "WHERE application_name = 'assistd' AND datname = current_database()"],
        capture_output=True, text=True, check=True).stdout.strip()
    for w in workers:
        w.join()
    print(f"terminated {cut} backends at 1 s; responses by status: {dict(sorted(codes.items()))}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "proxy":
        proxy(int(args[0]), float(args[1]))
    elif cmd == "create":
        create(int(args[0]), int(args[1]))
    elif cmd == "cut":
        cut(int(args[0]), args[1], float(args[2]), int(args[3]))
    else:
        sys.exit(__doc__)
