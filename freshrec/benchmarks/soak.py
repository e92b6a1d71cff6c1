"""``freshrec bench soak``: a live worker under a steady paced load for M minutes, sampling memory.

Items come from a fixed Zipf catalogue. Users come from a pool of ``--users`` active at once; with
``--new-users-per-s`` the pool slides (users leave for good and new ones arrive, an open population
as in a real shop), so the distinct users grow without end and only idle-user expiry
(``FRESHREC_SESSION_IDLE_TTL_S``) and list TTLs (``FRESHREC_REC_USER_TTL_S``) keep memory bounded.
Worker RSS and Redis memory must level off, not grow with the number of events or users. The JSON
has the samples and the growth rate of each over the second half and over the last 15 minutes.

Run it by hand under ``nice`` (a benchmark, not a test); pick ``--rate`` at about half the
``events_per_s`` of ``freshrec bench pipeline`` on the same machine.
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


def _slope_per_min(samples: list[dict], field: str, last_s: float | None = None) -> float | None:
    """Least-squares growth of ``field`` per minute over the second half of the samples (or the last
    ``last_s`` seconds of them)."""
    if last_s is None:
        half = samples[len(samples) // 2:]
    else:
        half = [s for s in samples if s["t_s"] >= samples[-1]["t_s"] - last_s]
    pts = [(s["t_s"] / 60, s[field]) for s in half if s.get(field) is not None]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    den = sum((x - mx) ** 2 for x, _ in pts)
    return round(sum((x - mx) * (y - my) for x, y in pts) / den, 3) if den else None


def soak(
    minutes: float = typer.Option(30.0, "--minutes", min=0.1, max=24 * 60, help="How long to run the load."),
    rate: float = typer.Option(250.0, "--rate", min=1, help="Events per second (about half the worker's "
                                                            "maximum from `freshrec bench pipeline`)."),
    users: int = typer.Option(20_000, "--users", min=1, help="Size of the user pool."),
    items: int = typer.Option(20_000, "--items", min=2, help="Size of the (Zipf) item catalogue."),
    new_users_per_s: float = typer.Option(0.0, "--new-users-per-s", min=0,
                                          help="Users leaving the pool for good (and new ones arriving) per "
                                               "second; 0 = a fixed pool."),
    session_ttl_s: float = typer.Option(None, "--session-ttl-s", min=0, envvar=f"{ENV_PREFIX}SESSION_IDLE_TTL_S",
                                        help="Worker: idle-session expiry; 0 = never."),
    expiry_interval_s: float = typer.Option(None, "--expiry-interval-s", min=0.1,
                                            envvar=f"{ENV_PREFIX}SESSION_EXPIRY_INTERVAL_S",
                                            help="Worker: seconds between idle-session sweeps."),
    list_ttl_s: int = typer.Option(None, "--list-ttl-s", min=0, envvar=f"{ENV_PREFIX}REC_USER_TTL_S",
                                   help="Worker: TTL of the rec:user lists in Redis; 0 = none."),
    sample_s: float = typer.Option(15.0, "--sample-s", min=1, help="Seconds between memory samples."),
    plot: Path = typer.Option(None, "--plot", dir_okay=False, help="Write a PNG of RSS and Redis memory here."),
    json_out: bool = typer.Option(False, "--json", help="Print only the JSON result on stdout."),
    seed: int = typer.Option(7, "--seed", help="Seed of the synthetic traffic."),
) -> None:
    """Run a worker under a steady load; print worker RSS and Redis memory over time as JSON."""
    import psutil
    import redis
    from rich.console import Console
    from freshrec.progress import Progress

    from producers.kafka_out import EventProducer, ProducerError
    from contracts.events import Event
    from streams.topics import ensure_topics

    worker = BenchWorker("soak", "soak", {"session_idle_ttl_s": session_ttl_s,
                                          "session_expiry_interval_s": expiry_interval_s,
                                          "rec_user_ttl_s": list_ttl_s}, loglevel="info")
    settings, log_path = worker.settings, worker.log_path
    r = redis.Redis.from_url(settings.redis_url)
    try:
        r.ping()
        ensure_topics(settings)
        out = EventProducer.from_settings(settings, linger_ms=5)
    except (redis.RedisError, ProducerError, Exception) as exc:  # noqa: BLE001 - say what to fix
        fail(f"cannot reach Kafka/Redis ({type(exc).__name__}: {exc}); run `freshrec stack up`")
    rng = random.Random(seed)
    weights = [1.0 / (k + 1) ** 0.9 for k in range(items)]
    cum, acc = [], 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    import bisect

    worker.start()
    proc = worker.proc
    samples: list[dict] = []
    produced = 0
    next_user = [0]  # users seen so far are u0 .. u{next_user - 1}
    try:
        wproc = psutil.Process(proc.pid)

        def sample(t0: float) -> dict:
            info = r.info("memory")
            n_keys = sum(1 for _ in r.scan_iter(match=f"{settings.redis_prefix}*", count=5000))
            processed = worker.stat(r, "events")
            rss = sum(p.memory_info().rss for p in [wproc, *wproc.children(recursive=True)])
            return {"t_s": round(time.monotonic() - t0, 1), "produced": produced, "processed": processed,
                    "distinct_users": next_user[0], "worker_rss_mb": round(rss / 2**20, 1),
                    "redis_keys": n_keys, "redis_prefix_mb": _prefix_mb(r, settings.redis_prefix, n_keys, rng_s),
                    "redis_used_memory_mb": round(info["used_memory"] / 2**20, 1)}

        t0 = time.monotonic()
        end = t0 + minutes * 60
        next_sample = t0
        rng_s = random.Random(seed + 1)  # the sampler's own draws leave the traffic unchanged
        with Progress(console=Console(stderr=True), transient=json_out) as progress:
            task = progress.add_task(f"soak at {rate:g}/s", total=minutes * 60)
            while (now := time.monotonic()) < end:
                if proc.poll() is not None:
                    fail(f"the worker exited ({proc.returncode}) after {now - t0:.0f}s; log: {log_path}")
                if now >= next_sample:
                    samples.append(sample(t0))
                    next_sample += sample_s
                    progress.update(task, completed=now - t0,
                                    description=f"soak at {rate:g}/s, RSS {samples[-1]['worker_rss_mb']} MB")
                due = t0 + produced / rate
                if due > now:
                    time.sleep(min(due - now, 0.05))
                    continue
                # The pool [base, base + users) slides forward: users below base never come back.
                base = int(produced / rate * new_users_per_s)
                user = base + rng.randrange(users)
                next_user[0] = max(next_user[0], user + 1)
                item = bisect.bisect_left(cum, rng.random() * acc)
                x = rng.random()
                type_ = "order" if x < 0.02 else "cart" if x < 0.05 else "view"
                out.send_event(Event(event_id=f"e{produced}", ts=int(time.time() * 1000), user_id=f"u{user}",
                                     item_id=f"i{item}", type=type_))
                produced += 1
            out.flush()
            # Let the worker drain what it has before the last sample.
            drain_end = time.monotonic() + 120
            while worker.stat(r, "events") < produced and time.monotonic() < drain_end and worker.alive():
                time.sleep(0.5)
            samples.append(sample(t0))
        out.close()
        rss = [s["worker_rss_mb"] for s in samples]
        third = max(len(samples) // 3, 1)
        result = {
            "minutes": minutes, "rate_target": rate, "users": users, "new_users_per_s": new_users_per_s,
            "distinct_users": next_user[0], "items": items, "events": produced,
            "session_idle_ttl_s": settings.session_idle_ttl_s,
            "session_expiry_interval_s": settings.session_expiry_interval_s,
            "rec_user_ttl_s": settings.rec_user_ttl_s, "worker_recommender": settings.worker_recommender,
            "processed": samples[-1]["processed"], "worker_alive": worker.alive(),
            "dead_letters": worker.stat(r, "dead_letters"),
            "worker_rss_mb_first": rss[0], "worker_rss_mb_max": max(rss), "worker_rss_mb_last": rss[-1],
            "worker_rss_mb_max_first_third": max(rss[:third]), "worker_rss_mb_max_last_third": max(rss[-third:]),
            "worker_rss_mb_per_min_second_half": _slope_per_min(samples, "worker_rss_mb"),
            "worker_rss_mb_per_min_last_15min": _slope_per_min(samples, "worker_rss_mb", 15 * 60),
            "redis_prefix_mb_last": samples[-1]["redis_prefix_mb"],
            "redis_prefix_mb_per_min_last_15min": _slope_per_min(samples, "redis_prefix_mb", 15 * 60),
            "redis_keys_last": samples[-1]["redis_keys"],
            "redis_keys_per_min_second_half": _slope_per_min(samples, "redis_keys"),
            "redis_used_memory_mb_last": samples[-1]["redis_used_memory_mb"],
            "redis_used_memory_mb_per_min_second_half": _slope_per_min(samples, "redis_used_memory_mb"),
            "redis_used_memory_mb_per_min_last_15min": _slope_per_min(samples, "redis_used_memory_mb", 15 * 60),
            "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "samples": samples,
        }
    finally:
        worker.stop()
        worker.cleanup(r)
    if plot is not None:
        _plot(result, plot)
    if json_out:
        typer.echo(json.dumps(result))
    else:
        for k, v in result.items():
            if k != "samples":
                typer.echo(f"{k:>40}: {v}")


def _prefix_mb(r, prefix: str, n_keys: int, rng: random.Random, sample: int = 300) -> float | None:
    """This run's share of Redis (``used_memory`` is the whole shared server): ``MEMORY USAGE`` of a
    random sample of its keys, scaled to their count."""
    if n_keys == 0:
        return 0.0
    keys = [k for _, k in zip(range(20 * sample), r.scan_iter(match=f"{prefix}*", count=5000))]
    picked = rng.sample(keys, min(sample, len(keys)))
    pipe = r.pipeline(transaction=False)
    for k in picked:
        pipe.memory_usage(k)
    sizes = [s for s in pipe.execute() if s is not None]
    return round(sum(sizes) / len(sizes) * n_keys / 2**20, 2) if sizes else None


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result["samples"]
    t = [x["t_s"] / 60 for x in s]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(t, [x["worker_rss_mb"] for x in s], label="worker RSS (MB)")
    ax.plot(t, [x["redis_prefix_mb"] for x in s], label="Redis, this run's keys (MB, sampled)")
    ax.plot(t, [x["redis_used_memory_mb"] for x in s], label="Redis used_memory (MB, whole shared server)",
            linestyle=":")
    ax.set_xlabel("minutes")
    ax.set_ylabel("MB")
    ax2 = ax.twinx()
    ax2.plot(t, [x["distinct_users"] / 1000 for x in s], color="grey", linestyle="--",
             label="distinct users so far (thousands)")
    ax2.set_ylabel("distinct users (thousands)")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(lines, labels, loc="upper left", fontsize=8)
    ax.set_title(f"soak: {result['rate_target']:g} events/s, {result['minutes']:g} min, "
                 f"{result['distinct_users']:,} users, session TTL {result['session_idle_ttl_s']:g} s")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)

