"""Hot swap under a running worker: the version in Redis changes, no event is lost or applied twice,
and a corrupt artifact is rejected while the running version stays."""

from __future__ import annotations

import os
import threading
import time

import pytest

from contracts.artifacts import CURRENT, ONNX, VERSIONS
from contracts.events import Event
from contracts.redis_keys import decode_rec_list
from models.deep.artifact import publish
from tests.integration.streams.conftest import Deployment, wait_until
from tests.unit.models.deep.conftest import cycle_sessions, tiny_model

pytestmark = pytest.mark.integration

TIMEOUT = 90.0
USERS = 8


def point_current(store, version: str) -> None:
    """What publish does once it has decided; the worker side is under test here, not the metric check."""
    tmp = store / f".{CURRENT}.test"
    tmp.write_text(version + "\n")
    os.replace(tmp, store / CURRENT)


def user_list(dep, user: str):
    raw = dep.redis.hget(dep.settings.redis_prefix + f"rec:user:{user}", "body")
    return None if raw is None else decode_rec_list(raw)


def worker_stats(dep) -> dict[str, int]:
    raw = dep.redis.hgetall(dep.settings.redis_prefix + "stats:worker")
    return {k.decode(): int(float(v)) for k, v in raw.items()}


class Traffic:
    """Users walking the item cycle, one event at a time, with unique ids and increasing times."""

    def __init__(self, dep):
        self.dep = dep
        self.sent = 0
        self.last_ts: dict[str, int] = {}
        self.t0 = int(time.time() * 1000) - 600_000

    def send(self, n: int, producer) -> None:
        for _ in range(n):
            u = self.sent % USERS
            ts = self.t0 + self.sent
            producer.send_event(Event(event_id=f"e{self.sent}", ts=ts, user_id=f"u{u}", type="view",
                                      item_id=f"i{(u + self.sent // USERS) % 20}"))
            self.last_ts[f"u{u}"] = ts
            self.sent += 1

    def all_applied(self) -> bool:
        return worker_stats(self.dep).get("accepted", 0) >= self.sent and all(
            (rl := user_list(self.dep, u)) is not None and rl.event_ts == ts for u, ts in self.last_ts.items())


@pytest.fixture
def hybrid_worker(tmp_path, settings):
    store = tmp_path / "store"
    first = tiny_model(epochs=3)
    first.fit(cycle_sessions(300))
    v1 = publish(store, first.save(store)).current
    second = tiny_model(epochs=3, seed=1)
    second.fit(cycle_sessions(300, seed=1))
    v2_dir = second.save(store)
    dep = Deployment(tmp_path, FRESHREC_WORKER_RECOMMENDER="models.deep.hybrid:from_settings",
                     FRESHREC_DEEP_STORE=str(store), FRESHREC_DEEP_POLL_S="0.2",
                     FRESHREC_ONLINE_CHECKPOINT_S="0")
    dep.worker.start()
    yield dep, store, v1, v2_dir
    dep.cleanup()


def test_hot_swap_changes_version_without_losing_or_duplicating_events(hybrid_worker):
    dep, store, v1, v2_dir = hybrid_worker
    traffic = Traffic(dep)
    with dep.producer() as out:
        traffic.send(40, out)
    wait_until(traffic.all_applied, TIMEOUT, lambda: f"first lists (worker log: {dep.worker.log()})")
    assert {user_list(dep, f"u{u}").model_version for u in range(USERS)} == {f"hybrid:{v1}"}

    # Events keep flowing while the pointer moves: consumption never pauses for the load.
    stop = threading.Event()

    def keep_sending():
        with dep.producer() as out:
            while not stop.is_set() and traffic.sent < 2000:
                traffic.send(8, out)
                out.flush(10)
                stop.wait(0.02)

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        point_current(store, v2_dir.name)
        wait_until(lambda: user_list(dep, "u0").model_version == f"hybrid:{v2_dir.name}", TIMEOUT,
                   lambda: f"the new version in Redis (worker log: {dep.worker.log()})")
    finally:
        stop.set()
        sender.join(30)
    wait_until(traffic.all_applied, TIMEOUT, lambda: f"every event applied (worker log: {dep.worker.log()})")
    stats = worker_stats(dep)
    assert stats["accepted"] == traffic.sent, stats
    assert stats.get("duplicates", 0) == 0, stats
    assert stats.get("dead_letters", 0) == 0, stats
    assert {user_list(dep, f"u{u}").model_version for u in range(USERS)} == {f"hybrid:{v2_dir.name}"}

    # A corrupt version (ONNX bytes changed after the manifest was written) is rejected; v2 stays.
    bad = store / VERSIONS / (v2_dir.name[:-8] + "deadbeef")
    bad.mkdir()
    for f in v2_dir.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    onnx = bytearray((bad / ONNX).read_bytes())
    onnx[len(onnx) // 2] ^= 0xFF
    (bad / ONNX).write_bytes(bytes(onnx))
    point_current(store, bad.name)
    wait_until(lambda: f"deep model {bad.name} rejected" in dep.worker.log(), TIMEOUT,
               lambda: f"the rejection logged (worker log: {dep.worker.log()})")
    with dep.producer() as out:
        traffic.send(16, out)
    wait_until(traffic.all_applied, TIMEOUT, lambda: f"lists after the rejection (worker log: {dep.worker.log()})")
    assert {user_list(dep, f"u{u}").model_version for u in range(USERS)} == {f"hybrid:{v2_dir.name}"}
    assert dep.worker.alive()
