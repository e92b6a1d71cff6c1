"""``freshrec shop``: run the simulated shop (:mod:`producers.shop`) against the real Kafka.

A thin loop: it paces the simulator's records to the wall clock, sends catalog upserts to the
compacted catalog topic (the initial catalog first) and events to the events topic. With
``--read-recs`` the simulated users read their recommendations from Redis, by a plain read of
the key schema in :mod:`contracts.redis_keys`, and react to them (the closed loop).
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from pathlib import Path

import typer

from contracts.events import CatalogItem, encode_event, encode_item
from contracts.redis_keys import BODY_FIELD, Keys, RecList, decode_rec_list
from freshrec.kafka_security import aiokafka_config
from freshrec.settings import Settings


def redis_recs_reader(client, keys: Keys, stats: Counter | None = None):
    """A :data:`producers.shop.RecsReader` over Redis: the user's list, else the item's list."""
    import msgspec

    stats = stats if stats is not None else Counter()

    def read(user_id: str, item_id: str) -> RecList | None:
        body = client.hget(keys.user_recs(user_id), BODY_FIELD) or client.hget(keys.item_recs(item_id), BODY_FIELD)
        if body is None:
            stats["recs_missing"] += 1
            return None
        try:
            rec = decode_rec_list(body)
        except msgspec.DecodeError:
            stats["recs_unreadable"] += 1
            return None
        stats["recs_read"] += 1
        return rec

    return read


def shop(
    users: int = typer.Option(1000, min=1, max=10_000_000, help="Simulated users."),
    items: int = typer.Option(2000, min=30, max=1_000_000, help="Catalog size at start."),
    rate: float = typer.Option(50.0, min=0.001, help="Mean events per simulated second over a day "
                               "(the hour-of-day profile modulates it; about 17 users per event/s are needed)."),
    duration: float | None = typer.Option(None, min=0.001, help="Stop after this many wall seconds (default: Ctrl-C)."),
    seed: int = typer.Option(0, min=0, help="Same seed (and --start-ms), same catalog, users and events, ids included."),
    shift_at: float | None = typer.Option(None, "--shift-at", min=0,
                                          help="Wall seconds after start at which two categories become trendy."),
    clock: float = typer.Option(1.0, min=0.001, help="Simulated seconds per wall second (e.g. 3600: an hour a second)."),
    fast: bool = typer.Option(False, "--fast", help="Send as fast as possible instead of pacing to the clock."),
    read_recs: bool = typer.Option(False, "--read-recs", help="Closed loop: users read recommendations from "
                                   "Redis (FRESHREC_REDIS_URL) and log impressions and clicks."),
    start_ms: int | None = typer.Option(None, "--start-ms", help="Simulated start, epoch ms (default: now; "
                                        "with --fast or --clock > 1 the run ends now)."),
    as_json: bool = typer.Option(False, "--json", help="Print counts as one JSON object at the end."),
    log_events: Path | None = typer.Option(None, "--log-events", help="Also append every record sent, events "
                                           "and catalog upserts, one JSON object a line (the experiment reads it)."),
) -> None:
    """Simulate a shop: catalog, users with hidden tastes, sessions with intents, sent to Kafka."""
    from producers.batch_out import BatchSender
    from producers.kafka_out import EventProducer, ProducerError, ensure_topics
    from producers.progress import progress_bar
    from producers.shop import Shop

    settings = Settings()
    sim_duration = None if duration is None else duration * clock
    live = start_ms is None and not fast and clock == 1
    if start_ms is None:
        if (fast or clock > 1) and sim_duration is None:
            _fail("--fast and --clock > 1 need --duration (the simulated time must end by now)")
        start_ms = int(time.time() * 1000) - (int(sim_duration * 1000) if (fast or clock > 1) else 0)
    stats: Counter = Counter()
    reader = None
    if read_recs:
        import redis

        from freshrec.redis_url import sync_client

        client = sync_client(settings.redis_url, socket_timeout=2)
        try:
            client.ping()
        except redis.RedisError as exc:
            _fail(f"cannot reach Redis ({exc}); run `freshrec stack up` or set FRESHREC_REDIS_URL")
        reader = redis_recs_reader(client, Keys(settings.redis_prefix), stats)
    try:
        sim = Shop(users=users, items=items, rate=rate, seed=seed, start_ms=start_ms, duration_s=sim_duration,
                   shift_at_s=None if shift_at is None else shift_at * clock, recs_reader=reader,
                   warmup_s=min(WARMUP_S, WARMUP_EVENTS / rate))
    except ValueError as exc:
        _fail(str(exc))
    try:
        ensure_topics(settings)
        # --fast is a load run: whole batches (see producers.batch_out); paced runs need linger, not bulk.
        out = (BatchSender(settings.kafka_bootstrap, client_id="freshrec-shop", pack_max=settings.producer_pack_max,
                           pack_topics=frozenset({settings.topic_events}), **aiokafka_config(settings))
               if fast else EventProducer.from_settings(settings, client_id="freshrec-shop"))
    except ProducerError as exc:
        _fail(str(exc))
    if users < rate * USERS_PER_EVENT_PER_S:
        typer.secho(f"warning: {users} users can sustain about {users / USERS_PER_EVENT_PER_S:.0f} events/s "
                    f"(sessions last minutes and a user has one at a time); use --users "
                    f"{int(rate * USERS_PER_EVENT_PER_S) + 1} for --rate {rate:g}", err=True, fg=typer.colors.YELLOW)
    # The demo stops the shop with SIGTERM: flush what was queued, as on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    log = log_events.open("ab") if log_events is not None else None
    t0 = time.monotonic()
    if live:
        # The pacing clock starts at start_ms, taken before the catalog was built and Kafka reached: an
        # event then leaves when the wall clock reaches its ts, so ts is its produce time and the
        # freshness the worker measures from it is true (issue #18: it ran ~1.4 s behind before).
        t0 -= (time.time() * 1000 - start_ms) / 1000
    try:
        with progress_bar(f"shop seed={seed}", total=duration) as bar:
            shown = 0.0
            for ts, rec in sim.run():
                if not fast:
                    delay, t0, late = pace(t0, (ts - start_ms) / 1000.0 / clock, time.monotonic(), live)
                    if delay > 0.001:
                        time.sleep(delay)
                    if late:
                        stats["pacing_rebased_s"] += round(late, 3)
                if isinstance(rec, CatalogItem):
                    value = encode_item(rec)
                    out.send_raw(settings.topic_catalog, rec.item_id.encode(), value)
                    stats["catalog"] += 1
                else:
                    value = encode_event(rec)
                    out.send_raw(settings.topic_events, rec.user_id.encode(), value)
                    stats[rec.type] += 1
                if log is not None:
                    log.write(value + b"\n")
                now = time.monotonic()
                if now - shown > 0.25:
                    shown = now
                    bar(min(time.monotonic() - t0, duration or float("inf")),
                        f"{sum(stats[k] for k in _EVENT_TYPES)} events, {stats['catalog']} catalog")
            out.flush()
    except KeyboardInterrupt:
        out.flush()
    except ProducerError as exc:
        _fail(str(exc))
    finally:
        out.close()
        if log is not None:
            log.close()
    elapsed = time.monotonic() - t0
    n_events = sum(stats[k] for k in _EVENT_TYPES)
    summary = {"seed": seed, "events": n_events, "seconds": round(elapsed, 3),
               "events_per_s": round(n_events / elapsed, 1) if elapsed > 0 else None,
               "trending": [sim.catalog.leaves[lf].path[-1] for lf in sim.trending], "start_ms": start_ms, **stats}
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"sent {n_events} events and {stats['catalog']} catalog upserts in {elapsed:.1f}s "
                   f"to {settings.topic_events} / {settings.topic_catalog}")


_EVENT_TYPES = ("view", "click", "cart", "order", "impression")
USERS_PER_EVENT_PER_S = 17
# Simulated before the start, unsent, so the shop opens at its steady rate (bounded in events).
WARMUP_S = 300.0
#: Wall seconds a paced shop may fall behind its clock before it stops trying to catch up.
MAX_LATE_S = 1.0
WARMUP_EVENTS = 30_000


def pace(t0: float, offset_s: float, now: float, live: bool) -> tuple[float, float, float]:
    """``(seconds to wait, pacing origin, seconds given up)`` for a record due ``offset_s`` after ``t0``.

    A shop more than :data:`MAX_LATE_S` behind (suspended with ``kill -STOP`` while another job takes
    timings, or starved of CPU) goes on at the clock's pace from where it is: catching up would send
    the missed stream time at once and leave the worker, and every list, that far behind. A live shop
    (event time = wall time) never shifts its clock.
    """
    delay = t0 + offset_s - now
    if delay < -MAX_LATE_S and not live:
        return 0.0, t0 - delay, -delay
    return delay, t0, 0.0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _fail(message: str):
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)
