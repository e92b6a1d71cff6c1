"""DeepSwapper: swaps in a new published version, rejects a corrupt one once and keeps the old."""

from __future__ import annotations

import logging

from contracts.artifacts import CURRENT, ONNX, VERSIONS
from models.deep.artifact import publish
from models.deep.source import DeepSource
from streams.deep_swap import DeepSwapper
from tests.unit.models.deep.conftest import cycle_sessions, tiny_model


async def test_swaps_new_versions_and_rejects_corrupt_ones(tmp_path, caplog):
    store = tmp_path / "store"
    model = tiny_model(epochs=2)
    model.fit(cycle_sessions(200))
    source, seen = DeepSource(), []
    swapper = DeepSwapper(store, source, on_swap=seen.append)
    assert await swapper.poll() is None  # nothing published yet

    good = model.save(store)
    publish(store, good)
    assert await swapper.poll() == good.name
    assert source.version == good.name and seen == [good.name]
    assert await swapper.poll() is None  # already running

    bad = store / VERSIONS / (good.name[:-8] + "deadbeef")
    bad.mkdir()
    for f in good.iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / ONNX).write_bytes(b"not an onnx model")
    (store / CURRENT).write_text(bad.name)
    with caplog.at_level(logging.ERROR, logger="streams.deep_swap"):
        assert await swapper.poll() is None
        assert await swapper.poll() is None
    assert source.version == good.name and seen == [good.name]
    assert sum("rejected" in r.getMessage() for r in caplog.records) == 1
