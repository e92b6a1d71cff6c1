"""A users worker and an items worker as two processes: neighbour lists cross between them as packs
while both run, and from the compacted ``neighbors`` table when the users worker starts again."""

from __future__ import annotations

import time

import pytest

from contracts.events import Event
from contracts.redis_keys import decode_rec_list

from .conftest import WorkerProcess, wait_until, worker_env

pytestmark = pytest.mark.integration

TIMEOUT = 60.0


def _reasons(dep, user: str) -> dict[str, str]:
    raw = dep.redis.hget(dep.settings.redis_prefix + f"rec:user:{user}", "body")
    return {} if raw is None else {r.item: r.reason for r in decode_rec_list(raw).items}


@pytest.fixture(scope="module")
def split(deployment, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("roles")
    users = WorkerProcess(worker_env({**deployment.env_overrides, "FRESHREC_WORKER_ROLE": "users"}),
                          tmp / "users.log")
    items = WorkerProcess(worker_env({**deployment.env_overrides, "FRESHREC_WORKER_ROLE": "items"}),
                          tmp / "items.log")
    users.start()
    items.start()
    yield deployment, users, items
    users.stop()
    items.stop()


def test_lists_from_the_items_worker_reach_the_users_worker_live_and_after_its_restart(split):
    dep, users, items = split
    t0 = int(time.time() * 1000) - 60_000
    n = 0

    def ev(user: str, item: str) -> Event:
        nonlocal n
        n += 1
        return Event(event_id=f"r{n}", ts=t0 + n, user_id=user, item_id=item, type="view")

    with dep.producer() as out:
        for u in range(5):
            for item in ("a", "b", "c"):
                out.send_event(ev(f"other{u}", item))
    # The items worker counts the pairs and publishes a's list; only then can a users worker tell
    # a new visitor of a what was viewed with it.
    wait_until(lambda: dep.redis.exists(dep.settings.redis_prefix + "rec:item:a"), TIMEOUT,
               lambda: f"a's item list (items log: {items.log()})")

    def co_viewed(user: str) -> bool:
        with dep.producer() as out:
            out.send_event(ev(user, "a"))
        return True

    co_viewed("live")
    wait_until(lambda: _reasons(dep, "live").get("b") == "viewed together with a", TIMEOUT,
               lambda: f"b for a visitor of a, from a pack (users log: {users.log()})")

    assert users.stop() == 0
    users.start()
    co_viewed("after-restart")
    wait_until(lambda: _reasons(dep, "after-restart").get("b") == "viewed together with a", TIMEOUT,
               lambda: f"b after the users worker restarted (users log: {users.log()})")
    assert users.alive() and items.alive()


def test_the_neighbour_packs_topic_is_a_short_log_not_a_compacted_table(split):
    """Packs hold slices of lists under one key: compaction would keep only the last slice, and a
    long retention would make every start read hours of packs (streams/topics.py)."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    from streams.topics import NEIGHBOR_PACKS_RETENTION_MS, neighbor_packs_name

    dep, _, _ = split
    topic = neighbor_packs_name(dep.settings)
    admin = KafkaAdminClient(bootstrap_servers=dep.settings.kafka_bootstrap, client_id="test-packs-config")
    try:
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                     {"cleanup.policy": None, "retention.ms": None})],
                                     config_filter="all")
    finally:
        admin.close()
    assert res["topic"][topic]["cleanup.policy"]["value"] == "delete"
    assert int(res["topic"][topic]["retention.ms"]["value"]) == NEIGHBOR_PACKS_RETENTION_MS
