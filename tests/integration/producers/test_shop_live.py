"""The shop against the real services: the closed loop reads Redis, the CLI writes both topics."""

from __future__ import annotations

import json

import pytest
import redis
from typer.testing import CliRunner

from contracts.events import CatalogItem, Event, decode_event, decode_item
from contracts.redis_keys import BODY_FIELD, TS_FIELD, Keys, RecItem, RecList, encode_rec_list
from freshrec.cli import app
from producers.shop import Shop
from producers.shop_cli import redis_recs_reader
from streams.tables import key_partition

pytestmark = pytest.mark.integration

EVENING_MS = 1_795_201_200_000  # 2026-11-20 19:00 UTC


def test_a_closed_loop_user_reads_redis_and_logs_an_impression_and_a_click(redis_url, redis_client, unique):
    keys = Keys(f"t{unique}:")
    shop = Shop(users=3, items=120, rate=2.0, seed=5, duration_s=900)
    # A list per user, written the way the worker writes it: the user's favourite category first.
    for u in range(3):
        fav = shop.hidden_leaves(u, k=1)[0]
        liked = [f"i{i}" for i in shop.catalog.by_leaf[fav]][:4] + ["i0", "i1"]
        rec = RecList(items=[RecItem(i, 1.0 - k / 10, "test") for k, i in enumerate(liked)], event_ts=1,
                      write_ts=1, list_id=f"L{u}", variant="B")
        redis_client.hset(keys.user_recs(f"u{u}"), mapping={TS_FIELD: 1, BODY_FIELD: encode_rec_list(rec)})
    reader_client = redis.Redis.from_url(redis_url)
    shop.recs_reader = redis_recs_reader(reader_client, keys)
    events = [r for _, r in shop.run() if isinstance(r, Event)]
    reader_client.close()
    imps = [e for e in events if e.type == "impression"]
    clicks = [e for e in events if e.type == "click" and e.list_id]
    assert imps and clicks
    for c in clicks:
        assert c.list_id == f"L{c.user_id[1:]}" and c.variant == "B" and c.position is not None
        imp = next(e for e in imps if e.user_id == c.user_id and e.ts < c.ts)
        assert imp.shown[c.position] == c.item_id


def test_shop_cli_sends_catalog_and_events_keyed_to_their_topics(tmp_topic, read_topic):
    events_topic = tmp_topic("ev")
    catalog_topic = tmp_topic("cat", config={"cleanup.policy": "compact"})
    env = {"FRESHREC_TOPIC_EVENTS": events_topic, "FRESHREC_TOPIC_CATALOG": catalog_topic}
    # A fixed evening start: with the default (now) the hour-of-day profile makes the count depend on
    # when the test runs (181 events at 03:00 UTC, 2,831 at 19:00 for this seed).
    result = CliRunner().invoke(app, ["shop", "--users", "400", "--items", "200", "--rate", "20", "--duration", "120",
                                      "--fast", "--seed", "3", "--start-ms", str(EVENING_MS), "--json"], env=env)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    n_events = summary["events"]
    assert n_events > 2000 and summary["catalog"] >= 200
    got = read_topic(events_topic, n_events, events=True)
    assert len(got) == n_events
    assert all(key in (None, decode_event(v).user_id.encode()) for _, key, v in got)
    parts = 4  # tmp_topic's partitions
    assert all(part == key_partition(decode_event(v).user_id, parts) for part, _, v in got)
    assert any(key is None for _, key, _ in got)  # --fast sends packs
    items = [decode_item(v) for _, _, v in read_topic(catalog_topic, summary["catalog"])]
    assert len(items) == summary["catalog"] and all(isinstance(i, CatalogItem) for i in items)
    seen_items = {i.item_id for i in items}
    assert {decode_event(v).item_id for _, _, v in got} <= seen_items


def test_the_reader_falls_back_to_the_item_list_and_survives_a_bad_body(redis_client, unique):
    from collections import Counter

    keys = Keys(f"t{unique}:")
    rec = RecList(items=[RecItem("i7", 0.5, "similar")], event_ts=1, write_ts=1, list_id="LI")
    redis_client.hset(keys.item_recs("i3"), mapping={TS_FIELD: 1, BODY_FIELD: encode_rec_list(rec)})
    redis_client.hset(keys.user_recs("u9"), mapping={TS_FIELD: 1, BODY_FIELD: b"{not json"})
    stats: Counter = Counter()
    read = redis_recs_reader(redis_client, keys, stats)
    assert read("u1", "i3") == rec          # no user list: the item's list
    assert read("u1", "i4") is None         # neither
    assert read("u9", "i3") is None         # the user's list is unreadable: counted, not raised
    assert stats == {"recs_read": 1, "recs_missing": 1, "recs_unreadable": 1}
