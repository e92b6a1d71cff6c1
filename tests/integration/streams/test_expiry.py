"""Idle-user expiry in a real worker: an idle user's session is tombstoned in the changelog (gone from
the table, and from any recovery), an active user's is kept."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer

from contracts.events import Event

from .conftest import Deployment, wait_until

pytestmark = pytest.mark.integration

TTL_S = 4.0


@pytest.fixture
def expiring(tmp_path):
    dep = Deployment(tmp_path, FRESHREC_SESSION_IDLE_TTL_S=str(TTL_S), FRESHREC_SESSION_EXPIRY_INTERVAL_S="0.5")
    yield dep
    dep.cleanup()


def changelog_records(consumer: KafkaConsumer, seen: dict[bytes, list[bytes | None]]) -> None:
    for records in consumer.poll(timeout_ms=200).values():
        for r in records:
            seen.setdefault(r.key, []).append(r.value)


def test_idle_session_is_tombstoned_and_active_one_kept(expiring):
    dep = expiring
    dep.worker.start()
    n = 0

    def ev(user: str, item: str) -> Event:
        nonlocal n
        n += 1
        return Event(event_id=f"x{n}", ts=int(time.time() * 1000), user_id=user, item_id=item, type="view")

    def has_list(user: str) -> bool:
        return dep.redis.exists(dep.settings.redis_prefix + f"rec:user:{user}") == 1

    consumer = KafkaConsumer(f"{dep.settings.worker_app_id}-sessions-changelog",
                             bootstrap_servers=dep.settings.kafka_bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    seen: dict[bytes, list[bytes | None]] = {}
    try:
        with dep.producer() as out:
            out.send_event(ev("idle", "a"))
            out.send_event(ev("active", "a"))
            out.flush()
            wait_until(lambda: has_list("idle") and has_list("active"), 90,
                       lambda: f"both users' lists (worker log: {dep.worker.log()})")
            deadline = time.monotonic() + 60
            # The active user keeps browsing (an event every 0.5 s, well inside the TTL) until the idle
            # user's tombstone shows up in the sessions changelog.
            while not (seen.get(b"idle") and seen[b"idle"][-1] is None):
                assert time.monotonic() < deadline, f"no tombstone for the idle user: {seen.get(b'idle')}"
                assert dep.worker.alive(), dep.worker.log()
                out.send_event(ev("active", f"i{n % 7}"))
                out.flush()
                changelog_records(consumer, seen)
        changelog_records(consumer, seen)
    finally:
        consumer.close()
    assert seen[b"idle"][0] is not None  # it was written first, then deleted
    assert all(v is not None for v in seen[b"active"]), "the active user must not be expired"
    assert len(seen[b"active"]) >= 2
