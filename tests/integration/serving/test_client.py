"""The lookup client against the real Redis, read as the read-only user; outages and slow Redis degrade."""

from __future__ import annotations

import asyncio
import socket

import pytest
import redis.asyncio as aioredis

from serving.client import InvalidIdError, RecClient
from tests.integration.serving.lists import rec_list

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(settings, redis_url, keys):
    rc = RecClient(aioredis.Redis.from_url(settings.reader_url), keys, timeout_s=0.5, fresh_s=60, cache_size=3)
    yield rc
    await rc.close()


async def test_user_list_for_the_page_item(client, keys, write_list):
    write_list(keys.user_recs("u1"), rec_list("a", "b", "p", ctx="p", model_version="m3", list_id="L1"))
    write_list(keys.item_recs("p"), rec_list("c", "d", ctx="p"))
    write_list(keys.trending(), rec_list("t1", "t2", reason="trending"))
    recs = await client.get_recommendations("u1", "p", k=4)
    assert recs.source == "user"
    assert [r.item for r in recs.items] == ["a", "b", "c", "d"]  # never "p"; topped up from the item list
    assert recs.items[0].reason == "similar to p"
    assert (recs.model_version, recs.list_id, recs.context_item, recs.degraded) == ("m3", "L1", "p", False)
    assert 0 <= recs.freshness_ms < 60_000


async def test_stale_list_for_another_item_is_blended(client, keys, write_list):
    write_list(keys.user_recs("u2"), rec_list("a", "b", ctx="other", age_ms=3_600_000))
    write_list(keys.item_recs("p"), rec_list("c", "d", ctx="p", comp=("x",)))
    recs = await client.get_recommendations("u2", "p", k=10)
    assert recs.source == "blend"
    assert [r.item for r in recs.items] == ["c", "a", "x", "b", "d"]


async def test_anonymous_gets_item_list_unknown_item_gets_trending(client, keys, write_list):
    write_list(keys.item_recs("p"), rec_list("c", ctx="p"))
    write_list(keys.trending(), rec_list("q", "t1", reason="trending"))
    assert [r.item for r in (await client.get_recommendations(None, "p")).items] == ["c", "q", "t1"]
    recs = await client.get_recommendations("nobody", "q", k=5)
    assert (recs.source, [r.item for r in recs.items]) == ("trending", ["t1"])


async def test_bad_ids_and_k_raise_clear_errors(client):
    with pytest.raises(InvalidIdError, match="user"):
        await client.get_recommendations("a:b*", "p")
    with pytest.raises(InvalidIdError, match="item"):
        await client.get_recommendations("u", "../x\r\n")
    with pytest.raises(ValueError, match="k"):
        await client.get_recommendations("u", "p", k=0)


async def test_malformed_body_falls_through(client, keys, redis_client, write_list):
    redis_client.hset(keys.user_recs("u3"), mapping={"ts": 1, "body": b"{not json"})
    write_list(keys.item_recs("p"), rec_list("c", ctx="p"))
    assert (await client.get_recommendations("u3", "p")).source == "item"


async def test_outage_serves_the_last_good_list_then_trending(client, keys, write_list):
    write_list(keys.user_recs("u4"), rec_list("a", "b", ctx="p"))
    write_list(keys.trending(), rec_list("t1", "p", reason="trending"))
    good = await client.get_recommendations("u4", "p")
    dead = aioredis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=0.2)
    client.redis, live = dead, client.redis
    try:
        cached = await client.get_recommendations("u4", "p", k=1)
        assert (cached.source, cached.degraded, [r.item for r in cached.items]) == ("cache", True, ["a"])
        other = await client.get_recommendations("u5", "p")
        assert (other.source, other.degraded, [r.item for r in other.items]) == ("trending", True, ["t1"])
        assert client.degraded_total == 2
        assert not await client.ping()
    finally:
        client.redis = live
        await dead.aclose()
    assert good.degraded is False


async def test_slow_redis_times_out_into_a_fallback(keys):
    # a server that accepts connections and never answers: the lookup must not hang the page
    async def swallow(reader, writer):
        await reader.read(1 << 16)
        await asyncio.sleep(30)

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rc = RecClient(aioredis.Redis(host="127.0.0.1", port=port, socket_timeout=5), keys, timeout_s=0.1)
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        recs = await rc.get_recommendations("u", "p")
        assert loop.time() - start < 1.0
        assert (recs.source, recs.degraded, recs.items) == ("none", True, ())
    finally:
        server.close()
        await rc.close()


async def test_cache_is_bounded(client, keys, write_list):
    for n in range(6):
        write_list(keys.user_recs(f"v{n}"), rec_list("a", ctx="p"))
        await client.get_recommendations(f"v{n}", "p")
    assert len(client._cache) == 3


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_timed_out_connection_never_serves_its_late_replies_to_the_next_lookup(settings, keys, write_list):
    # a proxy in front of the real Redis holds replies back while `slow` is set; the late replies of the
    # first lookup must not be read as the answers of the second (another user's list!)
    host, port = settings.reader_url.rpartition("@")[2].split("/")[0].split(":")
    slow = asyncio.Event()

    async def pipe(reader, writer, delay: bool):
        try:
            while data := await reader.read(65536):
                if delay and slow.is_set():
                    await asyncio.sleep(0.3)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(client_r, client_w):
        server_r, server_w = await asyncio.open_connection(host, int(port))
        asyncio.ensure_future(pipe(client_r, server_w, False))
        asyncio.ensure_future(pipe(server_r, client_w, True))

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    proxied = settings.reader_url.replace(f"{host}:{port}", f"127.0.0.1:{proxy.sockets[0].getsockname()[1]}")
    rc = RecClient(aioredis.Redis.from_url(proxied), keys, timeout_s=0.1)
    write_list(keys.user_recs("alice"), rec_list("a1", "a2", ctx="p"))
    write_list(keys.user_recs("bob"), rec_list("b1", "b2", ctx="p"))
    try:
        assert [r.item for r in (await rc.get_recommendations("alice", "p")).items] == ["a1", "a2"]
        slow.set()
        assert (await rc.get_recommendations("alice", "p")).degraded
        slow.clear()
        await asyncio.sleep(0.4)  # alice's late replies arrive now; the connection they belong to is closed
        bob = await rc.get_recommendations("bob", "p")
        assert (bob.degraded, [r.item for r in bob.items]) == (False, ["b1", "b2"])
    finally:
        await rc.close()
        proxy.close()


async def test_concurrent_lookups_share_the_connection_and_each_gets_its_own_list(client, keys, write_list):
    for n in range(50):
        write_list(keys.user_recs(f"c{n}"), rec_list(f"x{n}", f"y{n}", ctx="p"))
    results = await asyncio.gather(*(client.get_recommendations(f"c{n % 50}", "p") for n in range(400)))
    for n, recs in enumerate(results):
        assert [r.item for r in recs.items] == [f"x{n % 50}", f"y{n % 50}"], n
    assert client.degraded_total == 0


async def test_an_error_reply_fails_only_its_own_lookup(client, keys, redis_client, write_list):
    redis_client.set(keys.user_recs("broken"), "a string, not a hash")  # HGET answers WRONGTYPE
    write_list(keys.user_recs("fine"), rec_list("a", ctx="p"))
    broken, fine = await asyncio.gather(client.get_recommendations("broken", "p"),
                                        client.get_recommendations("fine", "p"))
    assert broken.degraded and not fine.degraded
    assert [r.item for r in fine.items] == ["a"]
    assert [r.item for r in (await client.get_recommendations("fine", "p")).items] == ["a"]
