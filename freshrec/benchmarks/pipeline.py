"""``freshrec bench pipeline``: replay N events through a live worker subprocess and time it.

Two modes:

- backlog (no ``--rate``): all events are in the topic before the worker starts, so the worker runs
  flat out; ``events_per_s`` is its maximum rate (first window start to last Redis write, worker clock).
- paced (``--rate R``): the worker is warm, then events are produced at R/s with ``ts`` = produce time;
  freshness is produce time -> the user's list written in Redis (the worker's histogram, ~19% buckets).

Each run has its own app id, topics and Redis prefix, removed afterwards. CPU per event is reported for
every process on the machine from the moment the worker is warm: the users and items workers, this
benchmark's producer, and the broker and Redis of ``freshrec stack``; ``machine_events_per_s_bound`` is
the rate at which they together would fill every core.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import typer

from freshrec.benchmarks.worker import BenchWorker, fail
from freshrec.settings import ENV_PREFIX


def _events_from(dataset: Path | None, n: int, concurrent: int, seed: int) -> list[tuple[str, str]]:
    """``(user, item)`` pairs: sessions interleaved ``concurrent`` at a time, like a live shop."""
    rng = random.Random(seed)
    if dataset is not None:
        from contracts.datasets import iter_sessions, resolve
        sessions = ((f"u{sid}", [str(i) for i in items]) for sid, items in
                    iter_sessions(resolve(dataset, "train_sessions")))
    else:
        # Zipf-ish items over 20k, sessions of 2..10 clicks: roughly the shape of Diginetica.
        weights = [1.0 / (r + 1) ** 0.9 for r in range(20_000)]
        catalogue = [f"i{r}" for r in range(20_000)]

        def synth():
            sid = 0
            while True:
                sid += 1
                yield f"u{sid}", rng.choices(catalogue, weights, k=rng.randint(2, 10))
        sessions = synth()
    out: list[tuple[str, str]] = []
    active: list[tuple[str, list[str]]] = []
    it = iter(sessions)
    while len(out) < n:
        while len(active) < concurrent:
            nxt = next(it, None)
            if nxt is None:
                break
            active.append((nxt[0], list(reversed(nxt[1]))))
        if not active:
            break
        j = rng.randrange(len(active))
        user, rest = active[j]
        out.append((user, rest.pop()))
        if not rest:
            active[j] = active[-1]
            active.pop()
    return out


def pipeline(
    events: int = typer.Option(50_000, "--events", "-n", min=1, max=10_000_000, help="Events to replay."),
    rate: float = typer.Option(0.0, "--rate", min=0, help="Produce at this many events/s (freshness mode); "
                                                           "0 = backlog mode (maximum throughput)."),
    dataset: Path = typer.Option(None, "--dataset", exists=True, file_okay=False,
                                 help="Dataset folder (shared format, e.g. ../shared/data/diginetica); "
                                      "default synthetic Zipf sessions."),
    concurrent: int = typer.Option(500, min=1, help="Sessions active at once in the replay."),
    recommender: str = typer.Option(None, "--recommender", envvar=f"{ENV_PREFIX}WORKER_RECOMMENDER",
                                    help="module:factory the worker drives."),
    timeout: float = typer.Option(600.0, help="Give up after this many seconds."),
    json_out: bool = typer.Option(False, "--json", help="Print only the JSON result on stdout."),
    seed: int = typer.Option(7, help="Seed of the synthetic replay."),
    profile: Path = typer.Option(None, "--profile", dir_okay=False,
                                 help="Run the worker under cProfile and write the stats here."),
    split: bool = typer.Option(False, "--split", help="Run the users and the items side as two worker "
                               "processes (--role users / items), as on a machine with a core for each."),
    pack_max: int = typer.Option(None, "--pack-max", min=1, max=10_000, envvar=f"{ENV_PREFIX}PRODUCER_PACK_MAX",
                                 help="Events per events-topic record (a pack); 1 = one event per record. "
                                      "Default: the producers' setting."),
    workers: int = typer.Option(1, "--workers", min=1, max=32,
                                help="Worker processes sharing the partitions (of each role with --split): "
                                     "the scale curve runs N = 1, 2, 4 with --partitions 12."),
    partitions: int = typer.Option(None, "--partitions", min=1, max=256, envvar=f"{ENV_PREFIX}TOPIC_PARTITIONS",
                                   help="Partitions of this run's topics. Default: the setting (4)."),
) -> None:
    """Replay events through a live worker; print events_per_s, freshness percentiles, users_updated."""
    from kafka.errors import KafkaError
    from rich.console import Console
    from freshrec.progress import Progress

    from producers.kafka_out import EventProducer
    from contracts.events import Event
    from streams.topics import ensure_topics
    from serving.stats import percentile_from_histogram

    from freshrec.redis_url import sync_client

    worker = BenchWorker("bench", "pipeline", {"worker_recommender": recommender or None,
                                               "topic_partitions": partitions}, profile=profile)
    settings, keys, stats_key, log_path = worker.settings, worker.keys, worker.stats_key, worker.log_path
    r = sync_client(settings.redis_url)  # a redis+cluster:// stack gets the cluster client
    pairs = _events_from(dataset, events, concurrent, seed)
    n = len(pairs)
    last_ts: dict[str, int] = {}
    try:
        try:
            ensure_topics(settings)
            pack_max = pack_max or settings.producer_pack_max
            out = EventProducer.from_settings(settings, linger_ms=5, pack_max=pack_max)
        except (KafkaError, Exception) as exc:  # noqa: BLE001 - say what to fix, never a traceback
            fail(f"cannot reach Kafka at {settings.kafka_bootstrap} ({exc}); run `freshrec stack up`")

        def stat(field: str) -> int:
            return worker.stat(r, field)

        roles = ("users", "items") if split else ("all",)
        # What had been spent when the worker was warm (imports and recovery are not per-event work):
        # events done, asyncio tasks created, CPU seconds of each worker role and of the stack's services.
        warm: dict = {}

        def mark_warm(done: int) -> None:
            try:
                role_cpu = worker.cpu_s()
            except Exception:  # noqa: BLE001 - figures are optional
                return
            warm.update(events=done, tasks=stat("tasks_created"), roles=role_cpu, services=services_cpu(settings))

        # With several workers each one writes its own first_window_ms gauge (the last to start wins),
        # so the run's start is taken here: when the first events show up in the counters.
        first_seen_ms: list[int] = []

        def wait(cond, what: str, progress=None, task=None) -> None:
            deadline = time.monotonic() + timeout
            while not cond():
                if not first_seen_ms and stat("events") > 0:
                    first_seen_ms.append(int(time.time() * 1000))
                if not warm and progress is not None and (done := stat("events")) > 0:
                    mark_warm(done)
                if worker.proc is not None and not worker.alive():
                    fail(f"the worker exited ({worker.proc.returncode}); log: {log_path}")
                if time.monotonic() > deadline:
                    fail(f"timed out waiting for {what}; worker log: {log_path}")
                if progress is not None:
                    progress.update(task, completed=stat("events"))
                time.sleep(0.05)

        def produce(progress, task, pace: float) -> float:
            """Send the replay (at ``pace``/s, flat out when 0), noting each user's last event time;
            returns the seconds it took, flush included."""
            every = 2000 if pace > 0 else 5000
            t0, cpu0 = time.perf_counter(), time.process_time()
            for i, (user, item) in enumerate(pairs):
                if pace > 0 and (delay := t0 + i / pace - time.perf_counter()) > 0.002:
                    time.sleep(delay)
                ts = int(time.time() * 1000)
                out.send_event(Event(event_id=f"b{i}", ts=ts, user_id=user, item_id=item, type="view"))
                last_ts[user] = ts
                if i % every == 0:
                    progress.update(task, completed=i)
            out.flush()
            progress.update(task, completed=n)
            # The producer shares the machine with the workers: its CPU is what they did not get.
            producer_cpu.append(time.process_time() - cpu0)
            return time.perf_counter() - t0

        produce_start = 0
        producer_cpu: list[float] = []
        with Progress(console=Console(stderr=True), transient=json_out) as progress:
            if rate <= 0:
                produce(progress, progress.add_task("producing", total=n), 0.0)
                worker.start(roles, copies=workers)
                task = progress.add_task("worker consuming", total=n)
                wait(lambda: stat("events") >= n, "the worker to consume every event", progress, task)
                expected = n
            else:
                worker.start(roles, copies=workers)
                task = progress.add_task("warming up", total=None)
                warm_ts = int(time.time() * 1000)
                out.send_event(Event(event_id="warmup", ts=warm_ts, user_id="warmup", item_id="w", type="view"))
                out.flush()
                wait(lambda: r.exists(keys.user_recs("warmup")), "the worker to start")
                wait(lambda: any(k.startswith(b"fh:") for k in r.hkeys(stats_key)), "the first freshness figures")
                progress.update(task, total=1, completed=1)
                before = {k.decode(): int(v) for k, v in r.hgetall(stats_key).items() if k.startswith(b"fh:")}
                mark_warm(stat("events"))
                produce_start = int(time.time() * 1000)
                produce_s = produce(progress, progress.add_task(f"producing at {rate:g}/s", total=n), rate)
                expected = n + 1
                task = progress.add_task("worker catching up", total=expected)
                wait(lambda: stat("events") >= expected, "the worker to consume every event", progress, task)
            # The item side (co-visitation) runs behind the user path by design; it is part of the
            # work, so the run ends when it has applied every item update too.
            item_done = item_side_done(worker, r)
            task = progress.add_task("item side catching up", total=None)
            wait(item_done, "the item side to apply every item update", progress, task)
            item_caught_up_ms = int(time.time() * 1000)
            services_end = services_cpu(settings)
        stats = {k.decode(): v.decode() for k, v in r.hgetall(stats_key).items()}
        first, last = int(stats.get("first_window_ms", 0)), int(stats.get("last_write_ms", 0))
        users = list(last_ts)
        pipe = r.pipeline(transaction=False)
        for user in users:
            pipe.hget(keys.user_recs(user), "ts")
        got = pipe.execute()
        updated = sum(1 for user, ts in zip(users, got) if ts is not None and int(ts) >= last_ts[user])
        result: dict[str, object] = {
            "mode": "backlog" if rate <= 0 else "paced", "events": n, "rate_target": rate or None,
            "dataset": str(dataset) if dataset else "synthetic", "users": len(users), "users_updated": updated,
            "dead_letters": int(stats.get("dead_letters", 0)), "duplicates": int(stats.get("duplicates", 0)),
            "pack_max": pack_max, "records": int(stats.get("records", 0)),
            "take_max": settings.worker_take_max, "take_ms": settings.worker_take_ms,
            "mean_window": round(int(stats.get("events", 0)) / max(int(stats.get("windows", 0)), 1), 1),
            "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
            "workers": workers, "partitions": settings.topic_partitions,
        }
        if rate <= 0:
            if workers > 1 and first_seen_ms:  # polled every 50 ms: a run of seconds is measured to ~1 %
                first = min(first, first_seen_ms[0]) if first else first_seen_ms[0]
            span = max(last - first, 1) / 1000
            result["events_per_s"] = round(n / span, 1)
            result["events_per_s_per_worker"] = round(n / span / workers, 1)
            result["worker_busy_s"] = round(span, 3)
            result.update(freshness_p50_ms=None, freshness_p95_ms=None, freshness_p99_ms=None)
        else:
            hist = {k: int(v) - before.get(k, 0) for k, v in stats.items() if k.startswith("fh:")}
            result["events_per_s"] = round(n / max((last - produce_start) / 1000, 1e-3), 1)
            result["produced_per_s"] = round(n / produce_s, 1)
            result["producer_cpu_ms_per_event"] = round(producer_cpu[-1] / n * 1000, 3)
            for q in (50, 95, 99):
                result[f"freshness_p{q}_ms"] = percentile_from_histogram(hist, q / 100)
        result["item_side_behind_s"] = round(max(item_caught_up_ms - last, 0) / 1000, 3)
        result.update(produced_records(worker, n))
        measured = expected - warm["events"] if warm else 0  # events consumed since the warm mark
        if measured > 0:
            result["tasks_per_event"] = round((int(stats.get("tasks_created", 0)) - warm["tasks"]) / measured, 2)
        try:
            import psutil
            result["roles"] = list(roles)
            result["worker_rss_mb"] = round(sum(psutil.Process(p.pid).memory_info().rss
                                                for p in worker.procs.values()) / 2**20, 1)
            cpus = worker.cpu_s()
            cpu = cpus[roles[0]]
            result["worker_cpu_s"] = round(cpu, 2)
            if measured > 0:
                # CPU per event is what the code controls; events_per_s also measures the neighbours.
                # It is the CPU of the process that writes the users' lists (the whole worker unless
                # --split): what one worker process of that role can take, events_per_cpu_s.
                per = (cpu - warm["roles"][roles[0]]) / measured
                result["worker_cpu_ms_per_event"] = round(per * 1000, 3)
                result["events_per_cpu_s"] = round(1 / per, 1) if per > 0 else None
            if split:
                result["items_cpu_s"] = round(cpus["items"], 2)
                # From the same warm mark as the users side: start-up and recovery are not per event.
                base = warm["roles"].get("items", 0.0) if warm else 0.0
                result["items_cpu_ms_per_event"] = round((cpus["items"] - base) / max(measured or n, 1) * 1000, 3)
            if measured > 0:
                used = {k: v - warm["services"].get(k, 0.0) for k, v in services_end.items()}
                machine_budget(result, used, measured, os.cpu_count() or 1)
        except Exception:  # noqa: BLE001 - figures are optional
            pass
        out.close()
    finally:
        worker.stop()
        worker.cleanup(r)
    if json_out:
        typer.echo(json.dumps(result))
    else:
        for k, v in result.items():
            typer.echo(f"{k:>20}: {v}")



def services_cpu(settings) -> dict[str, float]:
    """CPU seconds so far of the local stack's processes (``freshrec stack``'s pid files): the broker
    and Redis share the machine with the workers, so their cost per event is part of its budget. Empty
    when the stack is someone else's (no pid files here)."""
    import psutil

    from freshrec.stack.manager import StackPaths

    out: dict[str, float] = {}
    for name, pidfile in StackPaths(settings.resolved_stack_dir).all_pids():
        pid = pidfile.read()
        if pid is None:
            continue
        try:
            role = name.split("-")[0]  # kafka-2 and redis-cluster-0 count with their kind
            out[role] = out.get(role, 0.0) + sum(psutil.Process(pid).cpu_times()[:2])
        except psutil.Error:
            continue
    return out


def machine_budget(result: dict, services: dict[str, float], events: int, cpus: int) -> None:
    """Per event, every process on the machine: the workers, the benchmark's producer, the broker and
    Redis; and the rate at which they would fill every core (``machine_events_per_s_bound``), the
    bound a paced run on this machine is measured against (issue #18)."""
    for name, cpu_s in services.items():
        result[f"{name}_cpu_ms_per_event"] = round(cpu_s / max(events, 1) * 1000, 3)
    parts = [result.get("worker_cpu_ms_per_event"), result.get("items_cpu_ms_per_event"),
             result.get("producer_cpu_ms_per_event"), *(result[f"{n}_cpu_ms_per_event"] for n in services)]
    total = sum(p for p in parts if p)
    if total > 0:
        result["machine_cpu_ms_per_event"] = round(total, 3)
        result["machine_events_per_s_bound"] = round(cpus * 1000 / total, 1)


def item_side_done(worker: BenchWorker, r):
    """A condition: the worker's item side has applied every record of the item-updates topic."""
    topic = worker.settings.topic_item_updates

    def done() -> bool:
        ends = worker.end_offsets([topic])
        return sum(ends.values()) <= worker.stat(r, "item_records")
    return done


def produced_records(worker: BenchWorker, events: int) -> dict[str, object]:
    """What the worker wrote to Kafka per consumed event (changelogs, item updates, dead letters),
    from the end offsets of every topic of this run but the events topic (issue #18's write
    amplification)."""
    ends = worker.end_offsets()
    by_topic: dict[str, int] = {}
    for topic, n in ends.items():
        if topic == worker.settings.topic_events:
            continue
        name = topic.replace(worker.run_id, "").strip(".-")
        by_topic[name] = by_topic.get(name, 0) + n
    return {"records_produced_per_event": round(sum(by_topic.values()) / max(events, 1), 3),
            "records_produced": by_topic}
