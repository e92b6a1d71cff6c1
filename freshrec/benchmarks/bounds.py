"""The physical bounds the serving benchmarks are measured against, in the same run.

- ``redis-benchmark`` (from the Redis package) reading the same list key as the lookups: Redis's own
  latency for that reply on this machine. It has no fixed-rate mode, so it runs closed loop at the
  benchmark's concurrency; the fixed-rate bound of ``lookup`` is the same line protocol answered
  with one ``HGET`` (freshrec/benchmarks/lookup_host.py ``--mode bound``).
- A bare ASGI app returning a fixed body of a real response's size, under the same uvicorn settings
  as ``freshrec serve`` (:func:`serving.cli.uvicorn_options`): what the HTTP server costs with no
  recommender behind it. Run as ``python -m freshrec.benchmarks.bounds --port P --workers N``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
from urllib.parse import unquote, urlsplit

# A /recommendations answer for k=10 as `freshrec serve` writes it, give or take a few bytes.
BODY = json.dumps({"user": "u1", "item": "i1", "items": [
    {"item": f"i{n}", "score": round(1 - n / 10, 3), "reason": "viewed together with i1", "source": "user"}
    for n in range(10)], "degraded": False, "model_version": "bench", "event_ts": 1, "write_ts": 2}).encode()


def redis_benchmark(url: str, key: str, requests: int, clients: int) -> dict:
    """``HGET key body`` ``requests`` times over ``clients`` connections; p50/p99 ms and requests/s,
    or ``{"redis_benchmark_error": ...}`` when the tool is missing or fails."""
    parts = urlsplit(url)
    cmd = ["redis-benchmark", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379),
           "-n", str(requests), "-c", str(clients), "--csv"]
    if parts.username:
        cmd += ["--user", unquote(parts.username)]
    if parts.password:
        cmd += ["-a", unquote(parts.password)]
    db = parts.path.lstrip("/")
    if db:
        cmd += ["--dbnum", db]
    cmd += ["HGET", key, "body"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return {"redis_benchmark_error": str(exc)[:200]}
    rows = list(csv.DictReader(io.StringIO(out)))
    if not rows:
        return {"redis_benchmark_error": f"no CSV in its output: {out[:200]!r}"}
    row = rows[-1]
    return {"redis_benchmark_p50_ms": float(row["p50_latency_ms"]), "redis_benchmark_p99_ms": float(row["p99_latency_ms"]),
            "redis_benchmark_rps": float(row["rps"]), "redis_benchmark_clients": clients}


async def bare_app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]})
    await send({"type": "http.response.body", "body": BODY})


def bare_app_factory():
    return bare_app


def main(argv: list[str] | None = None) -> None:
    from serving.cli import run_uvicorn, uvicorn_options

    parser = argparse.ArgumentParser(description="A bare ASGI app under freshrec serve's uvicorn settings.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    run_uvicorn("freshrec.benchmarks.bounds:bare_app_factory", args.workers,
                uvicorn_options("127.0.0.1", args.port, "warning"))


if __name__ == "__main__":
    main()
