"""Routing never raises and names the culprit; trending lists; the freshness histogram."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.routing import DeadLetter, route_event, route_item
from streams.tables import key_partition
from streams.trending import trending
from streams.writer import freshness_bucket, percentile_from_histogram

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
