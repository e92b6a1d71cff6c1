"""The HTTP API in process (ASGI) against the real Redis (read-only user) and Kafka."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from freshrec.settings import Settings
from serving.api import create_app
from serving.client import RecClient
from serving.events import KafkaEventSink
from tests.integration.serving.lists import rec_list

pytestmark = pytest.mark.integration

ITEM = {"item_id": "p", "title": "Trail shoe <X>", "category": ["Shoes", "Running"], "brand": "Acme", "price": 89.5}


@pytest.fixture
async def api(settings, redis_url, kafka_bootstrap, keys, tmp_topic):
    topic = tmp_topic("api-events")
    client = RecClient(aioredis.Redis.from_url(settings.reader_url), keys, timeout_s=0.5)
    sink = KafkaEventSink(kafka_bootstrap, topic)
    app = create_app(settings, client=client, sink=sink)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
            http.topic = topic
            http.rec_client = client
            yield http
    await sink.close()
    await client.close()


async def _with_details(api, deadline_s: float = 10.0, **params) -> dict:
    # a title read that times out on a loaded machine is reported in the answer (details_degraded),
    # not silently shown as "no title": wait until one answer had its titles read, fail if none did
    deadline = time.monotonic() + deadline_s
    while True:
        res = await api.get("/recommendations", params={**params, "details": 1})
        assert res.status_code == 200
        body = res.json()
        assert type(body["details_degraded"]) is bool, body  # present, and not 0/1/null
        if not body["details_degraded"]:
            return body
        assert time.monotonic() < deadline, f"every title read failed for {deadline_s} s"


async def test_recommendations_with_titles(api, keys, write_list, redis_client):
    write_list(keys.user_recs("u1"), rec_list("a", "b", ctx="p", list_id="L9", variant="B"))
    redis_client.set(keys.item("a"), orjson.dumps({"item_id": "a", "title": "Sock"}))
    body = await _with_details(api, user="u1", item="p", k=5)
    assert body["source"] == "user" and body["list_id"] == "L9" and body["variant"] == "B"
    assert [(e["item"], e["title"], e["reason"]) for e in body["items"]] == [
        ("a", "Sock", "similar to p"), ("b", None, "similar to p")]
    assert [e["reason_text"] for e in body["items"]] == ["similar to p", "similar to p"]  # p has no title
    redis_client.set(keys.item("p"), orjson.dumps(ITEM))
    body = await _with_details(api, user="u1", item="p")
    assert body["items"][0]["reason_text"] == "similar to Trail shoe <X>"
    plain = (await api.get("/recommendations", params={"user": "u1", "item": "p"})).json()
    assert "reason_text" not in plain["items"][0] and "details_degraded" not in plain


async def test_a_failed_title_read_is_visible_in_the_answer(api, keys, write_list, redis_client, monkeypatch):
    from redis.exceptions import TimeoutError as RedisTimeoutError

    write_list(keys.user_recs("u1"), rec_list("a", ctx="p"))
    redis_client.set(keys.item("a"), orjson.dumps({"item_id": "a", "title": "Sock"}))

    async def timed_out(ids):
        raise RedisTimeoutError("redis did not answer in time")
    monkeypatch.setattr(api.rec_client, "get_titles", timed_out)
    body = (await api.get("/recommendations", params={"user": "u1", "item": "p", "details": 1})).json()
    assert (body["details_degraded"], body["degraded"], body["items"][0]["title"]) == (True, False, None)
    assert "freshrec_details_degraded_total 1.0" in (await api.get("/metrics")).text


@pytest.mark.parametrize("params, field", [
    ({"user": "a:b*", "item": "p"}, "user"), ({"user": "u", "item": "x" * 65}, "item"),
])
async def test_bad_ids_are_422_naming_the_field(api, params, field):
    res = await api.get("/recommendations", params=params)
    assert res.status_code == 422
    assert res.json()["detail"]["field"] == field


@pytest.mark.parametrize("params, field", [({"k": 0}, "k"), ({"k": "ten"}, "k"), ({"k": 101}, "k"),
                                           ({"details": "maybe"}, "details")])
async def test_bad_parameters_are_422_naming_the_field(api, params, field):
    res = await api.get("/recommendations", params={"item": "p", **params})
    assert res.status_code == 422
    assert res.json()["detail"]["field"] == field


async def test_items(api, keys, redis_client):
    redis_client.set(keys.item("p"), orjson.dumps(ITEM))
    assert (await api.get("/items/p")).json() == ITEM
    missing = await api.get("/items/nope")
    assert missing.status_code == 404 and missing.json()["detail"]["field"] == "item_id"
    assert (await api.get("/items/a*b")).status_code == 422


async def test_posted_event_reaches_kafka_keyed_by_user(api, kafka_bootstrap, unique):
    from kafka import KafkaConsumer

    ev = {"event_id": f"e{unique}", "ts": int(time.time() * 1000), "user_id": "u7", "item_id": "p", "type": "view"}
    res = await api.post("/events", content=json.dumps(ev))
    assert res.status_code == 202, res.text
    consumer = KafkaConsumer(api.topic, bootstrap_servers=kafka_bootstrap, group_id=f"g-{unique}",
                             auto_offset_reset="earliest", consumer_timeout_ms=15_000)
    msgs = []
    for msg in consumer:
        msgs.append(msg)
        break
    consumer.close()
    assert len(msgs) == 1, "the event did not reach Kafka within 15 s"
    assert msgs[0].key == b"u7"
    assert json.loads(msgs[0].value)["event_id"] == f"e{unique}"


@pytest.mark.parametrize("body, field, status", [
    (b'{"event_id": "e1", "ts": 5, "user_id": "u", "type": "view", "item_id": "i"}', "ts", 422),
    (b'{"event_id": "e1", "ts": 1800000000000, "user_id": "u\\r\\n", "type": "view", "item_id": "i"}', "user_id", 422),
    (b'{"event_id": "e1", "ts": 1800000000000, "user_id": "u", "type": "hover", "item_id": "i"}', "type", 422),
    (b'{"event_id": "e1", "ts": 1800000000000, "user_id": "u", "type": "view"}', "item_id", 422),
    (b"not json", "$", 422),
    (b"[" + b"1," * 40_000 + b"1]", "$", 413),
])
async def test_bad_events_are_4xx_naming_the_field(api, body, field, status):
    res = await api.post("/events", content=body)
    assert res.status_code == status
    assert res.json()["detail"]["field"] == field


async def test_health_metrics_and_stats(api, keys, redis_client):
    redis_client.hset(keys.stats("worker"), mapping={"events": 120, "fh:4.0": 10, "fh:8.0": 2,
                                                     "model_version": "covis-1"})
    redis_client.hset(keys.ab("rank", "A"), mapping={"impressions": 200, "clicks": 10})
    health = await api.get("/health")
    assert health.status_code == 200 and health.json()["redis"] == "up"
    await api.get("/items/nope")
    stats = (await api.get("/stats")).json()
    assert stats["events_total"] == 120 and stats["freshness_p50_ms"] == 4.0
    assert stats["model_version"] == "covis-1"
    assert stats["variants"]["rank:A"]["ctr"] == pytest.approx(0.05)
    text = (await api.get("/metrics")).text
    assert 'freshrec_http_requests_total{method="GET",route="/items/{item_id}",status="404"} 1.0' in text
    assert 'freshrec_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/health"}' in text
    await api.get("/recommendations", params={"item": "p"})
    text = (await api.get("/metrics")).text
    assert 'freshrec_http_requests_total{method="GET",route="/recommendations",status="200"} 1.0' in text
    assert 'freshrec_recommendations_served_total{degraded="false",source="none"} 1.0' in text


async def test_detail_page_shows_the_item(api, keys, redis_client):
    redis_client.set(keys.item("p"), orjson.dumps(ITEM))
    page = await api.get("/p/p", params={"user": "u1"})
    assert page.status_code == 200
    assert "Trail shoe &lt;X&gt;" in page.text and "Shoes › Running" in page.text and "89.50" in page.text
    assert "Recommended for you" in page.text
    assert (await api.get("/p/nope")).status_code == 404
    assert (await api.get("/p/p", params={"user": "x y"})).status_code == 422


async def test_outages_degrade_instead_of_failing(settings, keys):
    # Redis and Kafka both unreachable: the page still gets a 200 (empty, degraded) list, health says
    # so, and a posted event is a clear 503 the frontend may retry
    from freshrec.stack.process import free_port

    dead = free_port()
    client = RecClient(aioredis.Redis(host="127.0.0.1", port=dead, socket_connect_timeout=0.2), keys, timeout_s=0.3)
    sink = KafkaEventSink(f"127.0.0.1:{dead}", "nowhere", timeout_s=1.0)
    app = create_app(settings, client=client, sink=sink)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
            res = await http.get("/recommendations", params={"user": "u1", "item": "p"})
            assert res.status_code == 200
            assert (res.json()["degraded"], res.json()["items"]) == (True, [])
            health = await http.get("/health")
            assert (health.status_code, health.json()["redis"]) == (503, "down")
            ev = {"event_id": "e1", "ts": int(time.time() * 1000), "user_id": "u1", "item_id": "p", "type": "view"}
            posted = await http.post("/events", content=json.dumps(ev))
            assert posted.status_code == 503 and posted.json()["detail"]["field"] == "kafka"
            assert (await http.get("/items/p")).status_code == 503
    await client.close()


async def _eventually(check, timeout: float, what: str, interval: float = 0.1):
    """The first truthy ``await check()`` within ``timeout`` seconds (a condition, not a sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        await asyncio.sleep(interval)


async def test_stats_the_worker_writes_after_the_first_call_show_within_seconds(api, keys, redis_client):
    # The page polls /stats from the moment it opens, usually before the worker's first write: "none
    # yet" must not be remembered for long (it was, for 30 s: events/s stayed "-").
    first = (await api.get("/stats")).json()
    assert first["events_total"] is None and first["events_per_s"] is None
    redis_client.hset(keys.stats("worker"), mapping={"events": 100})
    async def total():
        return (await api.get("/stats")).json()["events_total"] == 100
    await _eventually(total, 5, "the first stats in /stats")
    redis_client.hset(keys.stats("worker"), mapping={"events": 300})
    async def rate():
        return (await api.get("/stats")).json()["events_per_s"]
    assert await _eventually(rate, 5, "events/s in /stats") > 0


async def test_index_while_nothing_is_trending_shows_the_worker_warming_up(api, keys, write_list, redis_client):
    page = await api.get("/")
    assert page.status_code == 200 and "Waiting for the worker" in page.text, page.text
    redis_client.hset(keys.stats("worker"), mapping={"events": 1234})
    async def counted():
        text = (await api.get("/")).text
        return "warming up: 1,234 events processed" in text and text
    await _eventually(counted, 5, "the processed-event count on the index")
    write_list(keys.trending(), rec_list("a", "b"))
    ready = await api.get("/", params={"user": "u1"})
    assert ready.status_code == 307 and ready.headers["location"] == "/p/a?user=u1"


async def test_concurrent_posts_of_one_partition_share_pack_records(kafka_bootstrap, unique):
    """Group commit: events posted while a record of their partition is in flight leave together as
    one pack, and every one of them reaches the topic exactly once."""
    import asyncio

    from kafka import KafkaConsumer

    from producers.kafka_out import ensure_topics
    from contracts.events import Event, decode_event
    from contracts.packs import is_pack, split_pack

    topic = f"test.events.pack.{unique}"
    ensure_topics(Settings(kafka_bootstrap=kafka_bootstrap), events=topic, catalog=f"{topic}.catalog", partitions=1)
    sink = KafkaEventSink(kafka_bootstrap, topic)
    try:
        events = [Event(event_id=f"p{i}", ts=1_700_000_000_000 + i, user_id=f"u{i}", item_id="i1", type="view")
                  for i in range(60)]
        await asyncio.gather(*(sink.send(ev) for ev in events))
    finally:
        await sink.close()
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=3000)
    records = list(consumer)
    consumer.close()
    got = [decode_event(raw).event_id for r in records
           for raw in (split_pack(r.value) if is_pack(r.value) else [r.value])]
    assert sorted(got) == sorted(ev.event_id for ev in events)
    assert len(records) < len(events)  # some records carried several events
