"""``freshrec bench soak``: a live worker under a steady paced load for M minutes, sampling memory.

Users come from a fixed pool and items from a fixed Zipf catalogue, as in a real shop, so every
state the worker keeps is bounded by design (per-user session bounds, top-K co-visitation, list
TTLs): worker RSS and Redis memory must level off, not grow with the number of events. The JSON
has the samples and the growth rate of each over the second half of the run.

Run it by hand under ``nice`` (a benchmark, not a test); pick ``--rate`` at about half the
``events_per_s`` of ``freshrec bench pipeline`` on the same machine.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import typer

from freshrec.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[1]


def _fail(msg: str) -> None:
    typer.secho(f"error: {msg}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


def _slope_per_min(samples: list[dict], field: str) -> float | None:
    """Least-squares growth of ``field`` per minute over the second half of the samples."""
    half = samples[len(samples) // 2:]
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
    sample_s: float = typer.Option(15.0, "--sample-s", min=1, help="Seconds between memory samples."),
    json_out: bool = typer.Option(False, "--json", help="Print only the JSON result on stdout."),
    seed: int = typer.Option(7, "--seed", help="Seed of the synthetic traffic."),
) -> None:
    """Run a worker under a steady load; print worker RSS and Redis memory over time as JSON."""
    import psutil
    import redis
    from rich.console import Console
    from rich.progress import Progress

    from producers.kafka_out import EventProducer, ProducerError
    from producers.schema import Event
    from streams.keys import Keys
    from streams.topics import ensure_topics

    u = uuid.uuid4().hex[:8]
    overrides = {
        "worker_app_id": f"soak-{u}", "topic_events": f"soak.events.{u}", "topic_catalog": f"soak.catalog.{u}",
        "topic_dead_letter": f"soak.dlq.{u}", "topic_item_updates": f"soak.item-updates.{u}",
        "redis_prefix": f"s{u}:", "worker_web_port": 0,
    }
    settings = Settings(**overrides)
    env = dict(os.environ)
    env.update({ENV_PREFIX + k.upper(): str(v) for k, v in overrides.items()})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    log_path = Path(settings.cache_dir) / "bench" / f"soak-{u}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    r = redis.Redis.from_url(settings.redis_url)
    keys = Keys(settings.redis_prefix)
    try:
        r.ping()
        ensure_topics(settings)
        out = EventProducer.from_settings(settings, linger_ms=5)
    except (redis.RedisError, ProducerError, Exception) as exc:  # noqa: BLE001 - say what to fix
        _fail(f"cannot reach Kafka/Redis ({type(exc).__name__}: {exc}); run `freshrec stack up`")
    rng = random.Random(seed)
    weights = [1.0 / (k + 1) ** 0.9 for k in range(items)]
    cum, acc = [], 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    import bisect

    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "freshrec", "worker", "--loglevel", "warning"], cwd=REPO,
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    samples: list[dict] = []
    produced = 0
    try:
        wproc = psutil.Process(proc.pid)

        def sample(t0: float) -> dict:
            info = r.info("memory")
            n_keys = sum(1 for _ in r.scan_iter(match=f"{settings.redis_prefix}*", count=5000))
            processed = int(r.hget(keys.stats("worker"), "events") or 0)
            rss = sum(p.memory_info().rss for p in [wproc, *wproc.children(recursive=True)])
            return {"t_s": round(time.monotonic() - t0, 1), "produced": produced, "processed": processed,
                    "worker_rss_mb": round(rss / 2**20, 1), "redis_keys": n_keys,
                    "redis_used_memory_mb": round(info["used_memory"] / 2**20, 1)}

        t0 = time.monotonic()
        end = t0 + minutes * 60
        next_sample = t0
        user_pos: dict[int, int] = {}
        with Progress(console=Console(stderr=True), transient=json_out) as progress:
            task = progress.add_task(f"soak at {rate:g}/s", total=minutes * 60)
            while (now := time.monotonic()) < end:
                if proc.poll() is not None:
                    _fail(f"the worker exited ({proc.returncode}) after {now - t0:.0f}s; log: {log_path}")
                if now >= next_sample:
                    samples.append(sample(t0))
                    next_sample += sample_s
                    progress.update(task, completed=now - t0,
                                    description=f"soak at {rate:g}/s, RSS {samples[-1]['worker_rss_mb']} MB")
                due = t0 + produced / rate
                if due > now:
                    time.sleep(min(due - now, 0.05))
                    continue
                user = rng.randrange(users)
                item = bisect.bisect_left(cum, rng.random() * acc)
                user_pos[user] = user_pos.get(user, 0) + 1
                out.send_event(Event(event_id=f"e{produced}", ts=int(time.time() * 1000), user_id=f"u{user}",
                                     item_id=f"i{item}", type="view"))
                produced += 1
            out.flush()
            # Let the worker drain what it has before the last sample.
            drain_end = time.monotonic() + 120
            while (int(r.hget(keys.stats("worker"), "events") or 0) < produced and time.monotonic() < drain_end
                   and proc.poll() is None):
                time.sleep(0.5)
            samples.append(sample(t0))
        out.close()
        rss = [s["worker_rss_mb"] for s in samples]
        third = max(len(samples) // 3, 1)
        result = {
            "minutes": minutes, "rate_target": rate, "users": users, "items": items, "events": produced,
            "processed": samples[-1]["processed"], "worker_alive": proc.poll() is None,
            "dead_letters": int(r.hget(keys.stats("worker"), "dead_letters") or 0),
            "worker_rss_mb_first": rss[0], "worker_rss_mb_max": max(rss), "worker_rss_mb_last": rss[-1],
            "worker_rss_mb_max_first_third": max(rss[:third]), "worker_rss_mb_max_last_third": max(rss[-third:]),
            "worker_rss_mb_per_min_second_half": _slope_per_min(samples, "worker_rss_mb"),
            "redis_keys_last": samples[-1]["redis_keys"],
            "redis_keys_per_min_second_half": _slope_per_min(samples, "redis_keys"),
            "redis_used_memory_mb_last": samples[-1]["redis_used_memory_mb"],
            "redis_used_memory_mb_per_min_second_half": _slope_per_min(samples, "redis_used_memory_mb"),
            "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2), "samples": samples,
        }
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        _cleanup(settings, u, r)
    if json_out:
        typer.echo(json.dumps(result))
    else:
        for k, v in result.items():
            if k != "samples":
                typer.echo(f"{k:>40}: {v}")


def _cleanup(settings: Settings, u: str, r) -> None:
    import shutil

    from kafka import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=f"soak-cleanup-{u}")
        try:
            mine = [t for t in admin.list_topics() if u in t]
            if mine:
                admin.delete_topics(mine)
        finally:
            admin.close()
    except Exception:  # noqa: BLE001 - cleanup is best effort
        pass
    for key in r.scan_iter(match=f"{settings.redis_prefix}*", count=5000):
        r.delete(key)
    shutil.rmtree(settings.cache_dir / "worker" / settings.worker_app_id, ignore_errors=True)
