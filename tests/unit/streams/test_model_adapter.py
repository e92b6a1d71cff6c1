"""Published lists reach the model still encoded and are decoded on first use."""

import logging

from models.recommender import StreamRecommender
from streams.covis import NeighborList, encode
from streams.model_adapter import ModelAdapter


def test_an_encoded_list_is_read_on_first_use_and_a_bad_one_reads_empty(caplog):
    rec = StreamRecommender()
    adapter = ModelAdapter(rec)
    assert adapter.sharded
    nb = NeighborList(ts=1, popularity=2.0, similar=[("b", 3.0), ("c", 1.0)], complementary=[("case", 1.0)])
    adapter.set_neighbors_raw("a", encode(nb))
    assert [i for i, _ in rec.covisit.neighbors("a")] == ["b", "c"]
    assert [i for i, _ in rec.complementary.neighbors("a")] == ["case"]
    adapter.set_neighbors_raw("a", b"\xc1 not msgpack")
    with caplog.at_level(logging.ERROR):
        assert rec.covisit.neighbors("a") == []  # logged and skipped: a scoring window must not fail
    assert "bad neighbour list of a" in caplog.text
    adapter.set_neighbors_raw("a", None)
    assert rec.covisit.neighbors("a") == [] and rec.complementary.neighbors("a") == []
