"""Load phases for the serving benchmarks: an open-loop fixed rate, a closed-loop maximum rate, and a
minimal HTTP/1.1 client; measured from the scheduled instant, with CPU and run-queue wait per process.

Used by :mod:`freshrec.benchmarks.serving`; kept apart because none of it knows what is being measured.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np

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
                 pids: dict[str, Callable[[], list[int]]], warm_up: int,
                 around_fixed: tuple[Callable[[], Awaitable[object]], Callable[[], Awaitable[dict]]] | None = None
                 ) -> dict:
    """Warm up, then the fixed-rate phase, then max rate; per ``pids`` entry, CPU and run-queue wait.

    ``around_fixed``: coroutines called just before and after the fixed-rate phase (the second's dict
    joins the result), e.g. to read what the process under test measured of that phase itself.

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
        if around_fixed is not None:
            await around_fixed[0]()
        result = await fixed_rate(call, rate, seconds)
        if around_fixed is not None:
            result.update(await around_fixed[1]())
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


class _InOrderConn(asyncio.Protocol):
    """A connection whose answers come back in the order of its requests: each request appends a
    future to ``waiting``, each parsed answer resolves the oldest (:meth:`_answer`).

    A bare protocol rather than asyncio streams: the load generator shares the two cores with the
    process it measures, and streams cost it about twice the CPU per request.
    """

    peer = "the server"

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future] = deque()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def connection_lost(self, exc) -> None:
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"{self.peer} closed the connection ({exc})"))

    def _send(self, data: bytes) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.transport.write(data)
        return future

    def _answer(self, result) -> None:
        future = self.waiting.popleft()
        if not future.done():
            future.set_result(result)


class HttpConn(_InOrderConn):
    """One keep-alive HTTP/1.1 connection, requests pipelined in order; GET only, Content-Length bodies."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = bytearray()

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
            self._answer(int(head[9:12]))

    def get(self, path: str) -> asyncio.Future:
        return self._send(b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path.encode())


class LineConn(_InOrderConn):
    """One connection to :mod:`freshrec.benchmarks.lookup_host`: a request line, an answer line."""

    peer = "the lookup host"

    def __init__(self) -> None:
        super().__init__()
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        for line in lines:
            self._answer(line)

    def request(self, line: bytes) -> asyncio.Future:
        return self._send(line + b"\n")
