"""A live worker driving the OnlineRecommender: A/B lists, ab hashes, checkpoints with offsets."""

from __future__ import annotations

import json

import pytest

from contracts.events import CatalogItem
from tests.integration.streams.conftest import Deployment, wait_until
from tests.integration.streams.test_worker import Script, user_list

pytestmark = pytest.mark.integration

TIMEOUT = 90.0


@pytest.fixture
def deployment(tmp_path, redis_url, kafka_bootstrap):
    dep = Deployment(tmp_path, FRESHREC_WORKER_RECOMMENDER="models.online.recommender:from_settings",
                     FRESHREC_AB_EXPERIMENT="exp1", FRESHREC_AB_VARIANTS="online:50,fusion:50",
                     FRESHREC_ONLINE_CHECKPOINT_S="1", FRESHREC_ONLINE_CHECKPOINT_DIR=str(tmp_path / "ckpt"))
    yield dep
    dep.cleanup()


def test_worker_serves_variants_counts_them_and_checkpoints(deployment, tmp_path):
    dep = deployment
    dep.worker.start()
    script = Script()
    users = [f"user{i}" for i in range(12)]
    with dep.producer() as out:
        for i in "abcdef":
            out.send_item(CatalogItem(item_id=i, title=i.upper(), category=["shoes"], price=10.0, brand="x"))
        for _ in range(3):
            for u in users:
                for item in ("a", "b", "c"):
                    out.send_event(script.ev(u, item))
    lists = wait_until(lambda: all(user_list(dep, u) for u in users) and [user_list(dep, u) for u in users],
                       TIMEOUT, f"every user's list (worker log: {dep.worker.log()})")
    variants = {rec.variant for rec in lists}
    assert variants == {"online", "fusion"}, variants   # 12 users, 50/50: both (p of one-sided ~ 1/2048)
    rec = lists[0]
    with dep.producer() as out:
        n = script.n = script.n + 1
        from contracts.events import Event
        out.send_event(Event(event_id=f"imp{n}", ts=script.t0 + n * 10, user_id=users[0], type="impression",
                             item_id="c", list_id=rec.list_id, variant=rec.variant,
                             shown=[r.item for r in rec.items]))
        out.send_event(Event(event_id=f"clk{n}", ts=script.t0 + n * 10 + 5, user_id=users[0], type="click",
                             item_id=rec.items[0].item, list_id=rec.list_id, position=0, variant=rec.variant))
    key = f"{dep.settings.redis_prefix}ab:exp1:{rec.variant}"
    wait_until(lambda: dep.redis.hget(key, "clicks") == b"1" and dep.redis.hget(key, "impressions") == b"1",
               TIMEOUT, f"ab counters in {key}")
    preq = wait_until(lambda: int(dep.redis.hget(f"{dep.settings.redis_prefix}stats:worker", "preq_n") or 0),
                      TIMEOUT, "prequential counters")
    assert preq > 0
    ckpt = tmp_path / "ckpt"
    side = wait_until(lambda: sorted(ckpt.glob("online-*.json")), TIMEOUT, "an online checkpoint")
    meta = json.loads(side[-1].read_text())
    assert any(k.startswith(f"{dep.settings.topic_events}:") for k in meta["offsets"]) and meta["events"] > 0
    assert dep.worker.stop() == 0
    # Restart: the newest checkpoint is restored, so the learned-event count goes on from it (a fresh
    # model would count only the few new events).
    before = json.loads(sorted(ckpt.glob("online-*.json"))[-1].read_text())["events"]
    assert before >= 100
    dep.worker.start()
    with dep.producer() as out:
        for u in users[:3]:
            out.send_event(script.ev(u, "d"))

    def resumed():
        metas = [json.loads(p.read_text()) for p in ckpt.glob("online-*.json")]
        return any(m["events"] > before for m in metas)
    wait_until(resumed, TIMEOUT, lambda: f"a checkpoint after the restart (worker log: {dep.worker.log()})")
    assert dep.worker.stop() == 0
    assert dep.worker.log().count("Traceback") == 0
