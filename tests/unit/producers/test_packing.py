"""Event packs: grouping per partition, lone events as plain keyed records, linger from a thread."""

from __future__ import annotations

import threading

import msgspec
import pytest

from contracts.packs import PACK_MAX_EVENTS, encode_pack, is_pack, split_pack
from producers.packing import LingeringPacker, PackBuffer


def ev(user: str, n: int = 0) -> bytes:
    return b'{"user_id":"%s","n":%d}' % (user.encode(), n)


def test_a_pack_closes_at_max_events_and_keeps_order():
    buf = PackBuffer(max_events=3)
    assert buf.add(0, b"u1", ev("u1", 1)) == []
    assert buf.add(1, b"u2", ev("u2")) == []
    assert buf.add(0, b"u3", ev("u3", 2)) == []
    [(part, key, value)] = buf.add(0, b"u4", ev("u4", 3))
    assert (part, key) == (0, None)
    assert [e["n"] for e in msgspec.json.decode(value)] == [1, 2, 3]
    assert len(buf) == 1  # partition 1's event is still open


def test_a_lone_event_leaves_as_a_plain_record_keyed_by_its_user():
    buf = PackBuffer(max_events=10)
    buf.add(2, b"u9", ev("u9"))
    assert buf.take() == [(2, b"u9", ev("u9"))]
    assert buf.take() == []


def test_take_only_packs_opened_before_the_cutoff():
    buf = PackBuffer(max_events=10)
    buf.add(0, b"a", ev("a"), now=1.0)
    buf.add(1, b"b", ev("b"), now=5.0)
    assert [p for p, _, _ in buf.take(older_than=2.0)] == [0]
    assert [p for p, _, _ in buf.take()] == [1]


def test_a_pack_closes_at_max_bytes():
    buf = PackBuffer(max_events=100, max_bytes=40)
    assert buf.add(0, b"a", ev("a", 1234567890)) == []
    assert len(buf.add(0, b"b", ev("b", 1234567890))) == 1


def test_a_value_that_is_no_json_object_leaves_alone_after_the_open_pack_of_its_partition():
    buf = PackBuffer(max_events=10)
    buf.add(0, b"u1", ev("u1"))
    buf.add(1, b"u2", ev("u2"))
    out = buf.add(0, b"u3", b"\x00not json")
    assert out == [(0, b"u1", ev("u1")), (0, b"u3", b"\x00not json")]
    assert buf.add(0, b"u4", b'{"broken": ') == [(0, b"u4", b'{"broken": ')]
    assert buf.add(0, b"u5", ev("someone-else")) == [(0, b"u5", ev("someone-else"))]  # key is not the user
    assert buf.add(0, None, ev("u6")) == [(0, None, ev("u6"))]
    assert len(buf) == 1  # partition 1 untouched


def test_max_events_is_bounded_by_the_contract():
    with pytest.raises(ValueError):
        PackBuffer(max_events=PACK_MAX_EVENTS + 1)
    with pytest.raises(ValueError):
        encode_pack([b"{}"] * (PACK_MAX_EVENTS + 1))


def test_split_pack_round_trips_raw_events():
    raw = [b'{"a":1}', b'{"b":[1,2]}']
    packed = encode_pack(raw)
    assert is_pack(packed) and not is_pack(raw[0])
    assert split_pack(packed) == raw


def test_lingering_packer_sends_a_partial_pack_after_the_linger():
    sent: list = []
    done = threading.Event()

    def send(record):
        sent.append(record)
        done.set()
    packer = LingeringPacker(send, max_events=100, linger_s=0.01)
    try:
        packer.add(0, b"u1", ev("u1", 1))
        packer.add(0, b"u2", ev("u2", 2))
        assert done.wait(5), "the flusher thread never sent the open pack"
        assert len(sent) == 1 and [e["n"] for e in msgspec.json.decode(sent[0][2])] == [1, 2]
    finally:
        packer.close()


def test_lingering_packer_sends_every_open_pack_with_the_oldest():
    sent: list = []
    done = threading.Event()
    now = [0.0]

    def send(record):
        sent.append(record)
        if len(sent) == 2:
            done.set()
    packer = LingeringPacker(send, max_events=100, linger_s=0.05, clock=lambda: now[0])
    try:
        packer.add(0, b"u1", ev("u1", 1))
        now[0] = 0.04  # partition 3's pack is younger than the linger when partition 0's is due
        packer.add(3, b"u2", ev("u2", 2))
        now[0] = 0.06
        assert done.wait(5), "the flusher thread never sent the open packs"
        assert sorted(p for p, _, _ in sent) == [0, 3]
    finally:
        packer.close()


def test_lingering_packer_flush_sends_everything_now():
    sent: list = []
    packer = LingeringPacker(sent.append, max_events=100, linger_s=3600)
    packer.add(0, b"u1", ev("u1"))
    packer.add(3, b"u2", ev("u2"))
    packer.flush()
    assert sorted(p for p, _, _ in sent) == [0, 3]
    packer.close()
