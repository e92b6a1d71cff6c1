"""10,000 hostile messages on the events topic: all dead-lettered with a reason, the worker stays up,
and no Redis key outside the key schema is ever touched (keyspace notifications of a private Redis)."""

from __future__ import annotations

import hashlib
import pickle
import time
from collections import Counter
from pathlib import Path

import pytest

from contracts.events import Event
from contracts.redis_keys import Keys
from streams.routing import DeadLetter, route_event, route_record

from .harness import KeyWatcher, wait_until
from .hostile import draw_many, hostile_message

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

N = 10_000


def hostile_messages(request) -> list[tuple[bytes, bytes]]:
    """The derandomized draws, cached by the strategies' source: drawing 10,000 takes ~25 s of CPU."""
    source = (Path(__file__).parent / "hostile.py").read_bytes()
    # Keyed by day too: "far future" timestamps are drawn relative to today.
    day = int(time.time() // 86_400)
    cache = getattr(request.config, "cache", None)  # absent under `-p no:cacheprovider`
    if cache is None:
        return draw_many(hostile_message, N)
    path = Path(cache.mkdir("freshrec-fuzz")) / f"{hashlib.sha1(source).hexdigest()}-{day}-{N}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    messages = draw_many(hostile_message, N)
    path.write_bytes(pickle.dumps(messages))
    return messages


def test_ten_thousand_hostile_events_all_reach_the_dead_letter_topic(request, deployments, private_redis):
    messages = hostile_messages(request)
    assert len(messages) == N
    routed = [route_event(value, key) for key, value in messages]
    # The strategies' own check: each message breaks the contract, so the worker must reject it.
    assert [m for m, r in zip(messages, routed) if not isinstance(r, DeadLetter)] == []
    # A JSON array is a pack (contracts/packs.py): each of its elements is dead-lettered on its own.
    expected = [dl.value for key, value in messages for dl, _ in route_record(value, key)]
    assert all(isinstance(dl, DeadLetter) for key, value in messages for dl, _ in route_record(value, key))

    dep = deployments(redis_url=private_redis.url)
    watcher = KeyWatcher(private_redis.url)
    dep.ensure_topics()
    worker = dep.worker()
    worker.start()
    with dep.producer(linger_ms=20) as out:
        for key, value in messages:
            out.send_raw(dep.settings.topic_events, key, value)
        # One valid event last: the worker is still consuming, and writes only keys of the schema.
        out.send_event(Event(event_id="alive-1", ts=1_763_000_000_000, user_id="alive", item_id="i1",
                             type="view"))
    dlq = dep.settings.topic_dead_letter
    wait_until(lambda: dep.end_offsets(dlq) >= len(expected) or not worker.alive(), 240,
               lambda: f"{len(expected)} dead letters (worker log: {worker.log()})", interval=0.5)
    assert worker.alive(), worker.log()
    stats = wait_until(lambda: (s := dep.stats()).get("accepted", 0) >= 1 and s, 60, "the valid event")
    assert stats["dead_letters"] == len(expected) and stats["accepted"] == 1

    records = dep.read_topic(dlq)
    assert len(records) == len(expected) >= N
    assert Counter(r.value for r in records) == Counter(expected)
    for rec in records:
        headers = dict(rec.headers)
        assert headers["x-error-reason"] and headers["x-error-field"], rec
        assert headers["x-source-topic"] == dep.settings.topic_events.encode()
    reasons = Counter(dict(r.headers)["x-error-field"].decode() for r in records)
    assert {"$", "key", "ts", "type", "user_id", "item_id"} <= set(reasons), reasons

    touched = watcher.close()
    keys = Keys(dep.settings.redis_prefix)
    assert touched, "the keyspace watcher saw nothing (the worker writes stats at least)"
    assert sorted(k for k in touched if not keys.owns(k)) == []
    assert all(keys.owns(k.decode()) for k in private_redis.client().keys("*"))
    assert worker.alive()
