"""``freshrec bench lookup`` and ``freshrec bench api``: serving latency at a fixed rate, and the maximum rate.

Both seed their own key prefix with ``--users`` user lists, ``--items`` item lists and trending (written
as the default Redis user, removed afterwards), then run :func:`phases`:

0. **warm-up**: enough requests to fill the client's outage cache, then ``gc.freeze()``: steady state;
1. **fixed rate** (open loop): requests start on a fixed schedule of ``--rate`` per second for
   ``--seconds`` (kept by an interval timer), whatever earlier requests are doing; ``p50_ms`` /
   ``p99_ms`` are measured from each request's scheduled start (so queueing behind a slow request and
   a late start count, no coordinated omission); ``service_*`` from the actual start, ``start_lag_*``
   between the two;
2. **maximum rate** (closed loop): ``--concurrency`` requests in flight for ``--seconds``; ``max_rps``.

``*_cpu_ms_per_request`` and ``*_runqueue_ms_per_s`` (time runnable but waiting for a core) say what a
request costs and how much of the latency is the shared machine's, per process.

``lookup`` measures :meth:`RecClient.get_recommendations` in process (as the read-only user; the
schedule runs in the same event loop, as a page's requests would); ``api`` starts ``freshrec serve``
as a child process and drives ``GET /recommendations`` from this process over keep-alive HTTP/1.1
connections with a minimal client, so the load generator costs little of the shared CPU.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np
import typer

from freshrec.settings import Settings

MIN_TICK_S = 0.00025  # the fixed-rate schedule's finest tick; above 4,000/s several requests share one

def _percentiles(lat_s: list[float]) -> dict[str, float]:
    arr = np.asarray(lat_s) * 1000.0
    return {"p50_ms": round(float(np.percentile(arr, 50)), 3), "p99_ms": round(float(np.percentile(arr, 99)), 3),
            "max_ms": round(float(arr.max()), 3)}


async def fixed_rate(call: Callable[[int], Awaitable[object]], rate: float, seconds: float) -> dict:
    """Start ``call(i)`` at ``i / rate`` s; latency from the scheduled start; counts errors.

    Times are ``perf_counter`` (uvloop's ``loop.time()`` has millisecond resolution). A request whose
    start the event loop could not honour in time (the process was descheduled, a burst was being
    handled) still counts from its scheduled start: queueing is part of the latency.
    """
    n = int(rate * seconds)
    lat: list[float] = []
    service: list[float] = []
    lag: list[float] = []  # scheduled start to actual start: the generator's own lateness
    errors = 0
    clock = time.perf_counter
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task] = set()

    async def one(i: int, scheduled: float) -> None:
        nonlocal errors
        started = clock()
        lag.append(started - scheduled)
        try:
            await call(i)
        except Exception:  # noqa: BLE001 - counted, the run goes on
            errors += 1
            return
        done = clock()
        lat.append(done - scheduled)
        service.append(done - started)

    # The schedule is kept by an interval timer (SIGALRM, microsecond precision), not by sleeping:
    # the event loop's timers wait in whole milliseconds (epoll), which made requests start 0.5 ms
    # late on average (measured), and a thread keeping time cost more in GIL hand-offs than it saved.
    # Each tick starts every request due by then, timed from its own scheduled instant.
    tick = max(1.0 / rate, MIN_TICK_S)
    t0 = clock() + 0.05
    next_i = 0
    all_started = loop.create_future()

    def on_tick() -> None:
        nonlocal next_i
        now = clock() + 1e-5  # a tick that fires a hair early still starts its request
        while next_i < n and t0 + next_i / rate <= now:
            task = loop.create_task(one(next_i, t0 + next_i / rate))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            next_i += 1
        if next_i >= n and not all_started.done():
            all_started.set_result(None)

    # whoever had the alarm before (pytest-timeout does) gets it back afterwards, less the time spent
    previous_handler, (previous_delay, previous_interval) = signal.getsignal(signal.SIGALRM), signal.getitimer(
        signal.ITIMER_REAL)
    taken = clock()
    loop.add_signal_handler(signal.SIGALRM, on_tick)
    try:
        signal.setitimer(signal.ITIMER_REAL, t0 - clock(), tick)
        if n:
            await all_started
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        loop.remove_signal_handler(signal.SIGALRM)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            signal.setitimer(signal.ITIMER_REAL, max(1e-3, previous_delay - (clock() - taken)), previous_interval)
    if tasks:
        await asyncio.wait(tasks)
    elapsed = clock() - t0
    out = {"rate": rate, "requests": n, "errors": errors, "achieved_rps": round(len(lat) / elapsed, 1),
           "elapsed_s": elapsed}
    out.update(_percentiles(lat or [float("nan")]))
    svc = _percentiles(service or [float("nan")])
    start_lag = _percentiles(lag or [float("nan")])
    out.update({"service_p50_ms": svc["p50_ms"], "service_p99_ms": svc["p99_ms"],
                "start_lag_p50_ms": start_lag["p50_ms"], "start_lag_p99_ms": start_lag["p99_ms"]})
    return out


async def phases(call: Callable[[int], Awaitable[object]], rate: float, seconds: float, concurrency: int,
                 pids: dict[str, Callable[[], list[int]]], warm_up: int) -> dict:
    """Warm up, then the fixed-rate phase, then max rate; per ``pids`` entry, CPU and run-queue wait.

    ``warm_up`` requests (``concurrency`` at a time) first: enough to fill the client's outage cache
    (``serve_cache_size`` lists per process), so the phases measure a server in its steady state,
    not one growing its heap (which set off full garbage collections of ~100 ms in the measured phase).

    ``{name}_cpu_ms_per_request``: CPU of those processes per request of the fixed-rate phase;
    ``{name}_runqueue_ms_per_s``: how long per second they were runnable but waiting for a core
    (``/proc/<pid>/schedstat``), the stall no code change removes. After the warm-up, what is allocated
    so far is frozen out of the garbage collector (as ``freshrec serve`` does after startup); the
    collections of this process during the phase are counted with their longest pause.
    """
    from serving.api import freeze_gc

    async def warm(w: int) -> None:
        for i in range(w, warm_up, concurrency):
            try:
                await call(-1 - i)  # ids the measured phases do not use
            except Exception:  # noqa: BLE001 - a slow start under load; the measured phases count errors
                pass
    await asyncio.gather(*(warm(w) for w in range(concurrency)))
    freeze_gc()
    pauses: list[float] = []
    started = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append(time.perf_counter() - started[0])
    before = {name: _sched(pid()) for name, pid in pids.items()}
    gc.callbacks.append(on_gc)
    try:
        result = await fixed_rate(call, rate, seconds)
    finally:
        gc.callbacks.remove(on_gc)
    wall = result.pop("elapsed_s")
    for name, pid in pids.items():
        cpu, wait = (a - b for a, b in zip(_sched(pid()), before[name]))
        result[f"{name}_cpu_ms_per_request"] = round(cpu * 1000 / max(1, result["requests"]), 4)
        result[f"{name}_runqueue_ms_per_s"] = round(wait * 1000 / wall, 1)
    result.update({"gc_collections": len(pauses), "gc_max_pause_ms": round(max(pauses, default=0.0) * 1000, 2)})
    result.update(await max_rate(call, concurrency, seconds))
    return result


def _sched(pids: list[int]) -> tuple[float, float]:
    """(CPU s, run-queue wait s) summed over the threads of ``pids``, from /proc (Linux; zeros elsewhere)."""
    cpu = wait = 0.0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    on_cpu, waited, _ = f.read().split()
            except (OSError, ValueError):
                continue
            cpu, wait = cpu + int(on_cpu) / 1e9, wait + int(waited) / 1e9
    return cpu, wait


async def max_rate(call: Callable[[int], Awaitable[object]], concurrency: int, seconds: float) -> dict:
    clock = time.perf_counter
    deadline = clock() + seconds
    done = 0
    errors = 0

    async def worker(w: int) -> None:
        nonlocal done, errors
        i = w
        while clock() < deadline:
            try:
                await call(i)
                done += 1
            except Exception:  # noqa: BLE001 - counted
                errors += 1
            i += concurrency

    start = clock()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return {"max_rps": round(done / (clock() - start), 1), "max_rps_errors": errors,
            "concurrency": concurrency}


# --- data ----------------------------------------------------------------------------------
def seed(settings: Settings, prefix: str, users: int, items: int, k: int = 20) -> None:
    import redis

    from streams.keys import Keys, RecItem, RecList, encode_rec_list

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


def lookup(
    rate: float = typer.Option(2000.0, help="Requests per second of the fixed-rate phase."),
    seconds: float = typer.Option(10.0, help="Duration of each phase."),
    concurrency: int = typer.Option(16, min=1, max=1024, help="Requests in flight in the max-rate phase."),
    users: int = typer.Option(10_000, help="User lists to seed."),
    items: int = typer.Option(2_000, help="Item lists to seed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Latency of RecClient.get_recommendations (k=10, as the read-only user) at a fixed rate, and the max rate."""
    settings = _common(rate, seconds, users, items)
    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    seed(settings, prefix, users, items)
    try:
        result = _run(_lookup(settings, prefix, rate, seconds, concurrency, users, items))
    finally:
        cleanup(settings, prefix)
    _print("lookup", result, as_json)


async def _lookup(settings, prefix, rate, seconds, concurrency, users, items) -> dict:
    from serving.client import RecClient
    from streams.keys import Keys

    client = RecClient.from_settings(settings)
    client.keys = Keys(prefix)
    client.timeout_s = 1.0  # measure Redis, not the fallback

    async def call(i: int):
        user, item = _request_ids(users, items, i)
        recs = await client.get_recommendations(user, item, 10)
        if recs.degraded or not recs.items:
            raise RuntimeError("degraded")
    try:
        # CPU per lookup (load generator included): what the shared machine's load cannot inflate much
        return await phases(call, rate, seconds, concurrency,
                            {"client": lambda: [os.getpid()], **_redis_pids(settings)},
                            warm_up=client.cache_size + 1000)
    finally:
        await client.close()


def api(
    rate: float = typer.Option(2000.0, help="Requests per second of the fixed-rate phase."),
    seconds: float = typer.Option(10.0, help="Duration of each phase."),
    connections: int = typer.Option(32, min=1, max=1024, help="Keep-alive connections to the API."),
    workers: int = typer.Option(1, min=1, max=64, help="`freshrec serve --workers`."),
    users: int = typer.Option(10_000, help="User lists to seed."),
    items: int = typer.Option(2_000, help="Item lists to seed."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Latency of GET /recommendations (k=10) through `freshrec serve` at a fixed rate, and the max rate."""
    settings = _common(rate, seconds, users, items)
    from freshrec.stack.manager import connection_env
    from freshrec.stack.process import free_port

    prefix = f"bench{uuid.uuid4().hex[:6]}:"
    port = free_port()
    env = dict(connection_env(settings), FRESHREC_REDIS_PREFIX=prefix)
    seed(settings, prefix, users, items)
    # stderr to a file: a pipe nobody reads during the run would block the server once it filled
    log = tempfile.TemporaryFile()
    server = subprocess.Popen([sys.executable, "-m", "freshrec", "serve", "--port", str(port),
                               "--workers", str(workers)], env=env,
                              stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    server.log = log
    try:
        result = _run(_api(server, port, rate, seconds, connections, users, items, workers))
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        cleanup(settings, prefix)
    _print("api", {**result, "workers": workers}, as_json)


class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, requests pipelined in order; GET only, Content-Length bodies.

    A bare protocol rather than asyncio streams: the load generator shares the two cores with the
    server it measures, and streams cost it about twice the CPU per request.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiting: deque[asyncio.Future] = deque()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.waiting:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            at = head.find(b"content-length:")
            length = int(head[at + 15:].split(b"\r\n", 1)[0]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            del self.buffer[:end + 4 + length]
            future = self.waiting.popleft()
            if not future.done():
                future.set_result(int(head[9:12]))

    def connection_lost(self, exc) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"server closed the connection ({exc})"))

    def get(self, path: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.transport.write(b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path.encode())
        return future


async def _api(server, port, rate, seconds, connections, users, items, workers) -> dict:
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
    pool: asyncio.Queue[_Conn] = asyncio.Queue()
    for _ in range(connections):
        _, conn = await asyncio.get_running_loop().create_connection(_Conn, "127.0.0.1", port)
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
                          warm_up=(Settings().serve_cache_size + 1000) * workers)
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
