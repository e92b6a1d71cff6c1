"""``freshrec bench lookup`` and ``freshrec bench api``: serving latency at a fixed rate, and the maximum rate.

Both seed their own key prefix with ``--users`` user lists, ``--items`` item lists and trending (written
as the default Redis user, removed afterwards), then run :func:`freshrec.benchmarks.loadgen.phases`:

0. **warm-up**: enough requests to fill the client's outage cache, then ``gc.freeze()``: steady state;
1. **fixed rate** (open loop): requests start on a fixed schedule of ``--rate`` per second for
   ``--seconds`` (kept by an interval timer), whatever earlier requests are doing; ``p50_ms`` /
   ``p99_ms`` are measured from each request's scheduled start (so queueing behind a slow request and
   a late start count, no coordinated omission); ``service_*`` from the actual start, ``start_lag_*``
   between the two;
2. **maximum rate** (closed loop): ``--concurrency`` requests in flight for ``--seconds``; ``max_rps``.

``*_cpu_ms_per_request`` and ``*_runqueue_ms_per_s`` (time runnable but waiting for a core) say what a
request costs and how much of the latency is the shared machine's, per process.

The load generator is this process; what is measured runs in another, so the generator's scheduling
never shares its event loop. ``lookup`` measures :meth:`RecClient.get_recommendations` (as the
read-only user) in a lookup host process (freshrec/benchmarks/lookup_host.py) over a UNIX socket;
``api`` starts ``freshrec serve`` and drives ``GET /recommendations`` over keep-alive HTTP/1.1
connections with a minimal client. Each also measures its bound in the same run, at the same rate
and concurrency (freshrec/benchmarks/bounds.py): ``bound_p50_ms``, ``bound_p99_ms`` and ``p99_ratio``.
For ``lookup`` the bound is the same host answering with one ``HGET`` of the same list (and
``redis_benchmark_*``: redis-benchmark, closed loop, on that key); for ``api`` a bare ASGI app
returning a fixed body of a real answer's size under the same uvicorn settings.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

from freshrec.benchmarks import openloop
from freshrec.benchmarks.loadgen import HttpConn, phases
from freshrec.settings import Settings


# --- data ----------------------------------------------------------------------------------
def seed(settings: Settings, prefix: str, users: int, items: int, k: int = 20) -> None:
    import redis

    from contracts.redis_keys import Keys, RecItem, RecList, encode_rec_list

    keys = Keys(prefix)
    rng = random.Random(7)
    now = int(time.time() * 1000)
    r = redis.Redis.from_url(settings.redis_url)
    pipe = r.pipeline(transaction=False)

    def body(ctx: str, ts: int, reason: str) -> bytes:
        picks = rng.sample(range(items), k)
        return encode_rec_list(RecList(items=[RecItem(f"i{p}", round(1 - j / k, 3), reason.format(ctx))
                                              for j, p in enumerate(picks)],
                                       event_ts=ts, write_ts=ts + 2, context_item=ctx, model_version="bench"))
    for u in range(users):
        ctx = f"i{rng.randrange(items)}"
        ts = now - rng.randrange(600_000)
        pipe.hset(keys.user_recs(f"u{u}"), mapping={"ts": ts, "body": body(ctx, ts, "viewed together with {}")})
        pipe.pexpire(keys.user_recs(f"u{u}"), 3_600_000)
        if len(pipe) >= 2000:
            pipe.execute()
    for i in range(items):
        pipe.hset(keys.item_recs(f"i{i}"), mapping={"ts": now, "body": body(f"i{i}", now, "similar to {}")})
        pipe.pexpire(keys.item_recs(f"i{i}"), 3_600_000)
    pipe.hset(keys.trending(), mapping={"ts": now, "body": body(None, now, "trending now")})
    pipe.pexpire(keys.trending(), 3_600_000)
    pipe.execute()
    r.close()


def cleanup(settings: Settings, prefix: str) -> None:
    import redis

    r = redis.Redis.from_url(settings.redis_url)
    batch = []
    for key in r.scan_iter(match=f"{prefix}*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            r.delete(*batch)
            batch = []
    if batch:
        r.delete(*batch)
    r.close()


@contextmanager
def _seeded(settings: Settings, users: int, items: int) -> Iterator[str]:
    """A fresh key prefix seeded with the lists, removed afterwards (also after a partial seed)."""
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    try:
        seed(settings, prefix, users, items)
        yield prefix
    finally:
        cleanup(settings, prefix)


def _request_ids(users: int, items: int, i: int) -> tuple[str | None, str]:
    # 10% anonymous visitors; the rest spread over users and items
    h = (i * 2654435761) & 0xFFFFFFFF
    return (None if h % 10 == 0 else f"u{h % users}"), f"i{(h >> 8) % items}"


# --- commands --------------------------------------------------------------------------------
def _common(rate, seconds, users, items) -> Settings:
    import redis
    from pydantic import ValidationError

    if rate <= 0 or seconds <= 0 or users < 1 or items < 30:
        _fail("--rate and --seconds must be > 0, --users >= 1, --items >= 30")
    try:
        settings = Settings()
        redis.Redis.from_url(settings.redis_url, socket_timeout=2).ping()
    except ValidationError as exc:
        _fail(f"invalid settings: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
    except redis.RedisError as exc:
        _fail(f"cannot reach Redis ({exc}); run `freshrec stack up` or set FRESHREC_REDIS_URL")
    return settings


def _redis_pids(settings: Settings) -> dict[str, Callable[[], list[int]]]:
    """``{"redis": ...}`` when Redis runs on this machine (the local stack): its CPU shares the cores too."""
    import redis

    try:
        pid = int(redis.Redis.from_url(settings.redis_url, socket_timeout=2).info("server")["process_id"])
        with open(f"/proc/{pid}/comm") as f:
            local = f.read().startswith("redis")
    except (redis.RedisError, OSError, KeyError, ValueError):
        return {}
    return {"redis": lambda: [pid]} if local else {}


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


# The options both commands take, declared once so their help and defaults cannot drift apart.
_RATE = typer.Option(2000.0, help="Requests per second of the fixed-rate phase.")
_SECONDS = typer.Option(10.0, help="Duration of each phase.")
_USERS = typer.Option(10_000, help="User lists to seed.")
_ITEMS = typer.Option(2_000, help="Item lists to seed.")
_JSON = typer.Option(False, "--json", help="Print one JSON object.")


def lookup(
    rate: float = _RATE,
    seconds: float = _SECONDS,
    concurrency: int = typer.Option(16, min=1, max=1024, help="Requests in flight in the max-rate phase."),
    users: int = _USERS,
    items: int = _ITEMS,
    as_json: bool = _JSON,
) -> None:
    """Latency of RecClient.get_recommendations (k=10, as the read-only user) at a fixed rate and the max
    rate, against one bare HGET of the same list at the same rate (bound_*) and redis-benchmark; then the
    same schedule from a C generator against the client (openloop_*) and against Redis itself (redis_*)."""
    from freshrec.benchmarks.bounds import redis_benchmark
    from contracts.redis_keys import Keys

    settings = _common(rate, seconds, users, items)
    with _seeded(settings, users, items) as prefix:
        bound = _run(_lookup(settings, prefix, "bound", rate, seconds, concurrency, users, items))
        result = _run(_lookup(settings, prefix, "lookup", rate, seconds, concurrency, users, items))
        own = openloop.at_redis(settings, prefix, rate, seconds, concurrency, users, items)
        reference = redis_benchmark(settings.reader_url, Keys(prefix).user_recs("u1"), int(rate * seconds),
                                    concurrency)
    c_fields = _openloop_fields(result.pop("openloop", {"openloop_error": "not run"}), own)
    _print("lookup", {**result, **_bound_fields(bound, result), **c_fields, **reference}, as_json)


def _openloop_fields(at_host: dict, at_redis: dict) -> dict:
    """The C generator's figures (freshrec/benchmarks/openloop.c): the lookups and Redis's own HGET of
    the same keys under one schedule, rate and concurrency, so ``openloop_p99_ratio`` is rate for rate."""
    error = at_host.get("openloop_error") or at_redis.get("openloop_error")
    if error:
        return {"openloop_error": error}
    out = {"openloop_p50_ms": at_host["p50_ms"], "openloop_p99_ms": at_host["p99_ms"],
           "openloop_p999_ms": at_host["p999_ms"], "openloop_errors": at_host["errors"],
           "openloop_achieved_rps": at_host["achieved_rps"],
           "openloop_generator_cpu_ms_per_request": at_host["cpu_ms_per_request"],
           "openloop_start_lag_p99_ms": at_host["start_lag_p99_ms"],
           "redis_p50_ms": at_redis["p50_ms"], "redis_p99_ms": at_redis["p99_ms"],
           "redis_p999_ms": at_redis["p999_ms"], "redis_errors": at_redis["errors"],
           "redis_start_lag_p99_ms": at_redis["start_lag_p99_ms"]}  # the generator's own share of both
    if at_redis["p99_ms"]:
        out["openloop_p99_ratio"] = round(at_host["p99_ms"] / at_redis["p99_ms"], 2)
        if "host_p99_ms" in at_host:  # the client's own share, without the generator's socket hop
            out.update(openloop_host_p50_ms=at_host["host_p50_ms"], openloop_host_p99_ms=at_host["host_p99_ms"],
                       openloop_host_p99_ratio=round(at_host["host_p99_ms"] / at_redis["p99_ms"], 2))
    return out


def _bound_fields(bound: dict, result: dict) -> dict:
    out = {"bound_p50_ms": bound["p50_ms"], "bound_p99_ms": bound["p99_ms"], "bound_max_rps": bound["max_rps"],
           "p99_ratio": round(result["p99_ms"] / bound["p99_ms"], 2) if bound["p99_ms"] else None}
    if "host_p99_ms" in bound:  # lookup: the same figures as the host process timed them
        out.update(bound_host_p50_ms=bound["host_p50_ms"], bound_host_p99_ms=bound["host_p99_ms"],
                   host_p99_ratio=round(result["host_p99_ms"] / bound["host_p99_ms"], 2)
                   if bound["host_p99_ms"] else None)
    return out


async def _lookup(settings, prefix, mode, rate, seconds, concurrency, users, items) -> dict:
    """The fixed-rate and max-rate phases against a lookup host process (``mode`` lookup or bound)."""
    from freshrec.benchmarks.loadgen import LineConn

    folder = tempfile.mkdtemp(prefix="freshrec-lookup-")
    path = os.path.join(folder, "host.sock")
    # stderr to a file: a pipe nobody reads during the run would block the host once it filled
    log = tempfile.TemporaryFile()
    host = subprocess.Popen([sys.executable, "-m", "freshrec.benchmarks.lookup_host", "--socket", path,
                             "--prefix", prefix, "--mode", mode], stdout=subprocess.PIPE, stderr=log)
    loop = asyncio.get_running_loop()
    try:
        ready = await loop.run_in_executor(None, host.stdout.readline)
        if ready.strip() != b"ready":
            log.seek(0)
            raise SystemExit(f"lookup host ({mode}) did not start: {log.read().decode(errors='replace')[-2000:]}")
        pool: asyncio.Queue[LineConn] = asyncio.Queue()
        for _ in range(concurrency):
            _, conn = await loop.create_unix_connection(LineConn, path)
            pool.put_nowait(conn)

        async def send(line: bytes) -> bytes:
            conn = await pool.get()
            try:
                return await conn.request(line)
            finally:
                pool.put_nowait(conn)

        async def call(i: int):
            user, item = _request_ids(users, items, i)
            answer = await send(b"%s %s" % ((user or "-").encode(), item.encode()))
            if answer != b"1":
                raise RuntimeError(answer.decode(errors="replace"))

        async def host_stats() -> dict:
            return json.loads((await send(b"stats"))[2:])
        # The client's CPU per lookup is the host's; the generator's is apart, on its own process.
        result = await phases(call, rate, seconds, concurrency,
                              {"client": lambda: [host.pid], "generator": lambda: [os.getpid()],
                               **_redis_pids(settings)},
                              warm_up=settings.serve_cache_size + 1000,
                              around_fixed=(lambda: send(b"reset"), host_stats))
        if mode == "lookup":  # the same schedule again from the C generator, the host timing it too
            await send(b"reset")
            c = await loop.run_in_executor(None, openloop.at_host, settings, path, rate, seconds, concurrency,
                                           users, items)
            result["openloop"] = c if "openloop_error" in c else {**c, **await host_stats()}
        return result
    finally:
        _stop(host, 10)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)


def api(
    rate: float = _RATE,
    seconds: float = _SECONDS,
    connections: int = typer.Option(32, min=1, max=1024, help="Keep-alive connections to the API."),
    workers: int = typer.Option(1, min=1, max=64, help="`freshrec serve --workers`."),
    users: int = _USERS,
    items: int = _ITEMS,
    as_json: bool = _JSON,
) -> None:
    """Latency of GET /recommendations (k=10) through `freshrec serve` at a fixed rate and the max rate,
    against a bare ASGI app under the same server settings at the same rate (bound_*)."""
    settings = _common(rate, seconds, users, items)
    from freshrec.stack.manager import connection_env

    with _seeded(settings, users, items) as prefix:
        env = dict(connection_env(settings), FRESHREC_REDIS_PREFIX=prefix)
        bound = _measure_server(["freshrec.benchmarks.bounds"], env, workers, rate, seconds, connections,
                                users, items, warm_up=1000)
        result = _measure_server(["freshrec", "serve"], env, workers, rate, seconds, connections, users, items,
                                 warm_up=(settings.serve_cache_size + 1000) * workers)
    _print("api", {**result, **_bound_fields(bound, result), "workers": workers,
                   "max_rps_per_worker": round(result["max_rps"] / workers, 1)}, as_json)


def _measure_server(module: list[str], env: dict, workers: int, rate, seconds, connections, users, items,
                    warm_up: int) -> dict:
    """``python -m <module> --port P --workers N`` as a child, measured by :func:`_api`, then stopped."""
    from freshrec.stack.process import free_port

    port = free_port()
    # stderr to a file: a pipe nobody reads during the run would block the server once it filled
    log = tempfile.TemporaryFile()
    server = subprocess.Popen([sys.executable, "-m", *module, "--port", str(port), "--workers", str(workers)],
                              env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    server.log = log
    try:
        return _run(_api(server, port, rate, seconds, connections, users, items, warm_up))
    finally:
        _stop(server, 15)


def _stop(proc: subprocess.Popen, timeout: float) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


async def _api(server, port, rate, seconds, connections, users, items, warm_up: int) -> dict:
    import httpx

    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if server.poll() is not None:
            server.log.seek(0)
            raise SystemExit(f"freshrec serve exited: {server.log.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("freshrec serve did not answer /health within 60 s")
        await asyncio.sleep(0.2)
    pool: asyncio.Queue[HttpConn] = asyncio.Queue()
    for _ in range(connections):
        _, conn = await asyncio.get_running_loop().create_connection(HttpConn, "127.0.0.1", port)
        pool.put_nowait(conn)

    async def call(i: int):
        user, item = _request_ids(users, items, i)
        path = f"/recommendations?item={item}&k=10" + (f"&user={user}" if user else "")
        conn = await pool.get()
        try:
            status = await conn.get(path)
        finally:
            pool.put_nowait(conn)
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
    import psutil

    def server_pids() -> list[int]:
        return [server.pid, *(p.pid for p in psutil.Process(server.pid).children(recursive=True))]

    result = await phases(call, rate, seconds, connections,
                          {"generator": lambda: [os.getpid()], "server": server_pids, **_redis_pids(Settings())},
                          warm_up=warm_up)
    while not pool.empty():
        pool.get_nowait().transport.close()
    return result


def _run(coro) -> dict:
    """``coro``'s result on the standard asyncio loop, whatever ``freshrec serve`` runs on.

    uvloop's timers have millisecond resolution: a sub-millisecond ``sleep`` returns at once, so the
    fixed-rate scheduler spun, costing 0.3 ms of CPU per request with a no-op call (0.05 ms on asyncio)
    on a machine whose two cores the measured code needs.
    """
    return {**asyncio.run(coro), "loop": "asyncio"}


def _print(name: str, result: dict, as_json: bool) -> None:
    result = {"benchmark": name, **result, "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2)}
    if as_json:
        typer.echo(json.dumps(result))
        return
    for key, value in result.items():
        typer.echo(f"{key:>16}: {value}")
