"""Serving reads Redis as a read-only ACL user: it can read what the worker writes and nothing more."""

from __future__ import annotations

import pytest
import redis

pytestmark = pytest.mark.integration


@pytest.fixture
def reader(settings, redis_url):
    if settings.reader_url == settings.redis_url:
        pytest.fail("no read-only Redis user: run `freshrec stack up` (it creates one) or set FRESHREC_REDIS_READ_URL")
    client = redis.Redis.from_url(settings.reader_url, socket_timeout=2)
    yield client
    client.close()


def test_reader_reads_what_the_writer_wrote(settings, reader, redis_client, unique):
    writer = redis.Redis.from_url(settings.writer_url, socket_timeout=2)
    key = f"test:{unique}:rec"
    assert writer.hset(key, mapping={"ts": 1, "body": "{}"}) == 2
    writer.close()
    assert reader.hget(key, "body") == b"{}"
    assert reader.hgetall(key) == {b"ts": b"1", b"body": b"{}"}


@pytest.mark.parametrize("command", [
    ("SET", "{key}", "x"), ("HSET", "{key}", "ts", "1"), ("DEL", "{key}"), ("EXPIRE", "{key}", "1"),
    ("EVAL", "return redis.call('SET', KEYS[1], 'x')", "1", "{key}"), ("FLUSHDB",), ("CONFIG", "SET", "maxmemory", "1"),
    ("ACL", "SETUSER", "freshrec-reader", "+@all"), ("PUBLISH", "c", "x"),
])
def test_reader_cannot_write(reader, redis_client, unique, command):
    key = f"test:{unique}:ro"
    redis_client.set(key, "original")
    with pytest.raises(redis.exceptions.NoPermissionError):
        reader.execute_command(*(part.format(key=key) for part in command))
    assert redis_client.get(key) == b"original"


def test_writer_cannot_administer(settings, redis_url):
    writer = redis.Redis.from_url(settings.writer_url, socket_timeout=2)
    for command in (("FLUSHALL",), ("CONFIG", "SET", "maxmemory", "1"), ("ACL", "SETUSER", "x", "on")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            writer.execute_command(*command)
    writer.close()


async def test_the_workers_writer_runs_as_the_writer_user(settings, redis_client, unique):
    # everything streams/writer.py does (EVALSHA of the compare-and-set script, counters, catalog)
    from contracts.redis_keys import Keys, RecItem, RecList
    from streams.writer import RedisWriter

    writer = RedisWriter(settings.writer_url, Keys(f"t{unique}:"), user_ttl_ms=60_000, item_ttl_ms=60_000,
                         trending_ttl_ms=60_000)
    try:
        rec = RecList(items=[RecItem("a", 1.0, "similar to b")], event_ts=5, write_ts=6)
        assert await writer.write_lists([(writer.keys.user_recs("u"), rec)], 60_000, stats={"events": 1}) == 1
        await writer.set_item("i1", b'{"title": "x"}')
    finally:
        await writer.close()
    assert redis_client.get(f"t{unique}:item:i1") == b'{"title": "x"}'
    assert redis_client.hget(f"t{unique}:stats:worker", "events") == b"1"


async def test_the_api_client_connects_as_the_reader(settings, redis_url):
    from serving.client import RecClient

    client = RecClient.from_settings(settings)
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            await client.redis.set("test:acl:api", "x")
        assert await client.ping()
    finally:
        await client.close()
