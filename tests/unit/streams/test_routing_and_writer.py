"""Routing never raises and names the culprit; trending lists; the freshness histogram."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from serving.stats import percentile_from_histogram
from streams.routing import DeadLetter, route_event, route_item
from streams.tables import key_partition
from streams.trending import trending
from streams.writer import freshness_bucket

GOOD = b'{"event_id": "e1", "ts": 1700000000000, "user_id": "u1", "type": "view", "item_id": "i1"}'


def test_a_valid_event_routes_through_and_a_wrong_key_does_not():
    assert route_event(GOOD, b"u1").user_id == "u1"
    assert route_event(GOOD, None).user_id == "u1"
    dl = route_event(GOOD, b"u2", topic="t", partition=3, offset=9)
    assert isinstance(dl, DeadLetter) and dl.field == "key" and dl.value == GOOD
    assert dict(dl.headers())["x-source-offset"] == b"9"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode), st.none()))
def test_routing_never_raises(value):
    out = route_event(value, b"k")
    if isinstance(out, DeadLetter):
        assert out.reason and out.field
    out = route_item(value, b"k")
    assert isinstance(out, (DeadLetter, str)) or out.item_id


def test_item_tombstones_need_a_valid_key():
    assert route_item(None, b"i1") == "i1"
    assert isinstance(route_item(None, b"../x"), DeadLetter)


def test_key_partition_matches_the_java_default_partitioner():
    # Values from Kafka's Java DefaultPartitioner (murmur2, positive, modulo partitions).
    from kafka.partitioner.default import murmur2
    assert key_partition("u1", 4) == (murmur2(b"u1") & 0x7FFFFFFF) % 4
    assert {key_partition(f"u{i}", 4) for i in range(100)} == {0, 1, 2, 3}


def test_trending_global_and_per_category():
    rows = [("a", 10.0, 1000), ("b", 5.0, 1000), ("c", 8.0, 1000)]
    out = trending(rows, {"a": "shoes", "b": "shoes", "c": "hats"}, k=2, half_life_ms=1000)
    assert [i for i, _ in out[None]] == ["a", "c"]
    assert [i for i, _ in out["shoes"]] == ["a", "b"]
    assert [i for i, _ in out["hats"]] == ["c"]


def test_freshness_histogram_percentiles_are_bucket_upper_bounds():
    hist: dict[str, int] = {}
    for ms in [1.0] * 90 + [50.0] * 9 + [400.0]:
        b = freshness_bucket(ms)
        hist[b] = hist.get(b, 0) + 1
    p50, p99 = percentile_from_histogram(hist, 0.5), percentile_from_histogram(hist, 0.99)
    assert 1.0 <= p50 < 1.2
    assert 50.0 <= p99 < 60.0
    assert percentile_from_histogram({}, 0.5) is None


def _pack_event(user: str, n: int) -> bytes:
    return (b'{"event_id":"e%d","ts":1700000000000,"user_id":"%s","type":"view","item_id":"i%d"}'
            % (n, user.encode(), n))


def test_a_pack_routes_each_event_with_its_place_in_the_log():
    from contracts.packs import PACK_SLOTS, encode_pack
    from streams.routing import route_record
    from streams.tables import key_partition

    users = [u for u in (f"u{i}" for i in range(50)) if key_partition(u, 4) == 1][:3]
    value = encode_pack([_pack_event(u, i) for i, u in enumerate(users)])
    routed = route_record(value, None, topic="t", partition=1, offset=7, partitions=4)
    assert [ev.user_id for ev, _ in routed] == users
    assert [seq for _, seq in routed] == [7 * PACK_SLOTS + i for i in range(3)]


def test_a_bad_event_in_a_pack_is_dead_lettered_alone_and_a_user_of_another_partition_too():
    from contracts.packs import encode_pack
    from streams.routing import route_record
    from streams.tables import key_partition

    here = next(u for u in (f"u{i}" for i in range(50)) if key_partition(u, 4) == 2)
    elsewhere = next(u for u in (f"u{i}" for i in range(50)) if key_partition(u, 4) != 2)
    bad = b'{"event_id":"x","ts":1,"user_id":"%s","type":"view","item_id":"i"}' % here.encode()
    value = encode_pack([_pack_event(here, 1), bad, _pack_event(elsewhere, 2)])
    routed = [ev for ev, _ in route_record(value, None, topic="t", partition=2, offset=0, partitions=4)]
    assert routed[0].user_id == here
    assert isinstance(routed[1], DeadLetter) and routed[1].field == "ts" and routed[1].index == 1
    assert routed[1].value == bad and routed[1].key == here.encode()  # re-sendable on its own
    assert ("x-source-pack-index", b"1") in routed[1].headers()
    assert isinstance(routed[2], DeadLetter) and routed[2].field == "user_id" and "partition" in routed[2].reason


def test_an_unreadable_or_empty_pack_is_one_dead_letter():
    from streams.routing import route_record

    for value in (b'[{"a":', b"[]", b" [ ] "):
        routed = route_record(value, None, topic="t", partition=0, offset=3, partitions=4)
        assert len(routed) == 1 and isinstance(routed[0][0], DeadLetter) and routed[0][0].value == value


def test_a_deeply_nested_array_is_one_dead_letter_not_a_crash():
    from streams.routing import route_record

    value = b"[" * 100_000 + b"]" * 100_000
    routed = route_record(value, None, topic="t", partition=0, offset=1, partitions=4)
    assert len(routed) == 1 and isinstance(routed[0][0], DeadLetter) and routed[0][0].field == "$"
