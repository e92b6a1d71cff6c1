"""A published tuning configuration reaches a running worker (issue 19): the worker starts with v1, picks
up v2 while events flow, its user lists follow v2's fusion weights and its item lists v2's pruning, the
version is reported in ``stats:worker``; a restarted worker runs the newest configuration from its first
window. Real Kafka, Redis and ``freshrec worker``; every wait is on a condition."""

from __future__ import annotations

import time

import pytest

from contracts.artifacts import TuningConfig, point_tuning, tuning_version, write_tuning
from contracts.events import Event
from contracts.redis_keys import Keys, decode_rec_list
from tests.integration.streams.conftest import Deployment, wait_until

pytestmark = pytest.mark.integration

TIMEOUT = 90.0
USERS, ITEMS = 8, 20
ZERO = {"covisit": 0.0, "repeat": 0.0, "complementary": 0.0, "content": 0.0, "trending": 0.0}
REPEAT_ONLY = {**ZERO, "repeat": 1.0}     # lists of the session's earlier items only
COVISIT_ONLY = {**ZERO, "covisit": 1.0}   # lists of co-visited items only
REPEAT_REASON, COVISIT_REASON = "you looked at", "viewed together with"


def publish(store, created: float, weights: dict, top_k: int) -> str:
    scoring = {"weights": weights}
    covis = {"window": 8, "backward": 0.5, "half_life_s": 7 * 86400.0, "top_k": top_k}
    config = TuningConfig(version=tuning_version(created, scoring, covis), created=created, rule="test",
                          scoring=scoring, covis=covis,
                          validation={"chosen": {"hr": 1.0, "mrr": 1.0}, "running": {"hr": 0.0, "mrr": 0.0},
                                      "cases": 1, "running_version": None}, data={})
    write_tuning(store, config)
    point_tuning(store, config.version)
    return config.version


class Traffic:
    """Users walking a ring of items one step per event (no revisits), unique ids, increasing times."""

    def __init__(self, dep: Deployment):
        self.dep, self.keys = dep, Keys(dep.settings.redis_prefix)
        self.sent = 0
        self.last_ts: dict[str, int] = {}
        self.t0 = int(time.time() * 1000) - 600_000

    def send(self, rounds: int) -> int:
        """``rounds`` events per user; returns the time of the first one sent."""
        first = self.t0 + self.sent
        with self.dep.producer() as out:
            for _ in range(rounds * USERS):
                u, ts = self.sent % USERS, self.t0 + self.sent
                out.send_event(Event(event_id=f"e{self.sent}", ts=ts, user_id=f"u{u}", type="view",
                                     item_id=f"i{(3 * u + self.sent // USERS) % ITEMS}"))
                self.last_ts[f"u{u}"] = ts
                self.sent += 1
        return first

    def user_list(self, user: str):
        raw = self.dep.redis.hget(self.keys.user_recs(user), "body")
        return None if raw is None else decode_rec_list(raw)

    def item_list(self, item: str):
        raw = self.dep.redis.hget(self.keys.item_recs(item), "body")
        return None if raw is None else decode_rec_list(raw)

    def applied(self) -> bool:
        return all((rl := self.user_list(u)) is not None and rl.event_ts == ts for u, ts in self.last_ts.items())

    def reasons(self) -> set[str]:
        """Every reason on every user's current list, by its source's wording."""
        return {" ".join(item.reason.split()[:3]) for u in self.last_ts for item in self.user_list(u).items}

    def stats(self) -> dict[str, str]:
        raw = self.dep.redis.hgetall(self.dep.settings.redis_prefix + "stats:worker")
        return {k.decode(): v.decode() for k, v in raw.items()}


@pytest.fixture
def tuned(tmp_path):
    store = tmp_path / "store"
    v1 = publish(store, time.time() - 60, REPEAT_ONLY, top_k=200)
    dep = Deployment(tmp_path, FRESHREC_WORKER_RECOMMENDER="models.recommender:from_settings",
                     FRESHREC_DEEP_STORE=str(store), FRESHREC_TUNING_POLL_S="0.2",
                     FRESHREC_ONLINE_CHECKPOINT_S="0")
    dep.worker.start()
    yield dep, store, v1
    dep.cleanup()


def test_a_running_worker_follows_a_newer_configuration_and_a_restart_keeps_the_newest(tuned):
    dep, store, v1 = tuned
    traffic = Traffic(dep)
    log = dep.worker.log
    # v1 was published before the worker started: its first lists already follow it.
    traffic.send(6)
    wait_until(traffic.applied, TIMEOUT, lambda: f"lists under v1 (worker log: {log()})")
    assert traffic.reasons() == {REPEAT_REASON}
    wait_until(lambda: traffic.stats().get("tuning_version_users") == v1, TIMEOUT, "v1 reported")
    assert traffic.stats().get("tuning_version_items") == v1
    wait_until(lambda: all((rl := traffic.item_list(f"i{i}")) is not None and len(rl.items) > 2 for i in range(ITEMS)),
               TIMEOUT, f"item lists under v1's pruning (200) (worker log: {log()})")

    v2 = publish(store, time.time(), COVISIT_ONLY, top_k=2)
    wait_until(lambda: traffic.stats().get("tuning_version_users") == v2, TIMEOUT, lambda: f"v2 reported ({log()})")
    assert traffic.stats().get("tuning_version_items") == v2
    after = traffic.send(6)
    wait_until(traffic.applied, TIMEOUT, lambda: f"lists under v2 (worker log: {log()})")
    assert traffic.reasons() == {COVISIT_REASON}
    # The items side prunes to v2's top_k: every list it publishes from now on has at most 2 neighbours.
    wait_until(lambda: all((rl := traffic.item_list(f"i{i}")).event_ts >= after and len(rl.items) <= 2
                           for i in range(ITEMS)), TIMEOUT, f"item lists under v2's pruning ({log()})")

    # Stopped, a newer configuration published, started again: the first window runs the newest.
    dep.worker.stop()
    v3 = publish(store, time.time(), REPEAT_ONLY, top_k=200)
    dep.worker.start()
    traffic.send(3)
    wait_until(traffic.applied, TIMEOUT, lambda: f"lists after the restart (worker log: {log()})")
    assert traffic.reasons() == {REPEAT_REASON}
    wait_until(lambda: traffic.stats().get("tuning_version_users") == v3, TIMEOUT, lambda: f"v3 reported ({log()})")
    assert dep.worker.alive()
