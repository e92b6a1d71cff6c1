"""The process under test of ``freshrec bench lookup``: a :class:`~serving.client.RecClient` (or, for
the bound, one bare Redis read of the same key) behind a line protocol on a UNIX socket.

The load generator runs in the benchmark's own process, so its scheduling never shares this event
loop or its core's time slice: a request line ``<user or -> <item>\\n`` is answered ``1\\n`` (a list
of items came back) or ``0 <reason>\\n``. The socket round trip is part of both the measured and the
bound figure, so their ratio compares the client with one Redis round trip and nothing else.

Run as ``python -m freshrec.benchmarks.lookup_host --socket PATH --prefix P --mode lookup|bound``;
it prints ``ready`` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

from freshrec.settings import Settings


def stats(timings: list[float]) -> bytes:
    """``1 {"host_p50_ms": ..., "host_p99_ms": ...}``: the lookups as this process timed them, from the
    request's arrival to its answer: the client's own latency, without the socket or the generator."""
    import numpy as np

    ms = np.asarray(timings or [float("nan")]) * 1000.0
    return b"1 " + json.dumps({"host_p50_ms": round(float(np.percentile(ms, 50)), 3),
                               "host_p99_ms": round(float(np.percentile(ms, 99)), 3)}).encode() + b"\n"


async def _serve(socket_path: str, prefix: str, mode: str, k: int) -> None:
    from contracts.redis_keys import Keys
    from serving.api import freeze_gc
    from serving.client import RecClient

    settings = Settings()
    keys = Keys(prefix)
    client = RecClient.from_settings(settings)
    client.keys = keys
    client.timeout_s = 1.0  # measure Redis, not the fallback
    bare = None
    if mode == "bound":
        import redis.asyncio as aioredis

        bare = aioredis.Redis.from_url(settings.reader_url)

    timings: list[float] = []  # seconds from a request's arrival to its answer, since the last reset

    async def answer(line: bytes) -> bytes:
        if line == b"reset":
            timings.clear()
            return b"1\n"
        if line == b"stats":
            return stats(timings)
        user, item = line.split()
        try:
            if bare is not None:
                # One round trip for one list of the same size: what any client's lookup must pay.
                body = await bare.hget(keys.user_recs(user.decode()) if user != b"-" else keys.item_recs(item.decode()),
                                       "body")
                return b"1\n" if body else b"0 empty\n"
            recs = await client.get_recommendations(None if user == b"-" else user.decode(), item.decode(), k)
            return b"0 degraded\n" if recs.degraded or not recs.items else b"1\n"
        except Exception as exc:  # noqa: BLE001 - the generator counts it as an error
            return b"0 " + type(exc).__name__.encode() + b"\n"

    loop = asyncio.get_running_loop()

    class Conn(asyncio.Protocol):
        # A bare protocol, not asyncio streams: the extra CPU per request would be in both figures
        # but is not what a frontend's lookup costs. The generator keeps one request in flight per
        # connection, so answers go back in order.
        def connection_made(self, transport) -> None:
            self.transport, self.buffer = transport, b""

        def data_received(self, data: bytes) -> None:
            *lines, self.buffer = (self.buffer + data).split(b"\n")
            now = time.perf_counter()
            for line in lines:
                loop.create_task(self.reply(line, now))

        async def reply(self, line: bytes, arrived: float) -> None:
            out = await answer(line)
            timings.append(time.perf_counter() - arrived)
            if not self.transport.is_closing():
                self.transport.write(out)

    server = await loop.create_unix_server(Conn, path=socket_path)
    freeze_gc()  # as `freshrec serve` does after startup
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, help="UNIX socket path to listen on")
    parser.add_argument("--prefix", required=True, help="Redis key prefix of the seeded lists")
    parser.add_argument("--mode", choices=("lookup", "bound"), default="lookup",
                        help="lookup: RecClient.get_recommendations; bound: one HGET of the same list")
    parser.add_argument("-k", type=int, default=10, help="Items per lookup")
    args = parser.parse_args(argv)
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # the default loop: what a frontend without uvloop gets
        runner = asyncio.run
    try:
        runner(_serve(args.socket, args.prefix, args.mode, args.k))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
