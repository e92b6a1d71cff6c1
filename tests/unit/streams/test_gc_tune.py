"""Full collections are logged with their cost and yield (streams/gc_tune.py)."""

from __future__ import annotations

import logging

from streams.gc_tune import _log_full_collection


def test_only_full_collections_are_logged(caplog):
    caplog.set_level(logging.INFO, logger="streams.gc_tune")
    _log_full_collection("start", {"generation": 0})
    _log_full_collection("stop", {"generation": 0, "collected": 5, "uncollectable": 0})
    assert caplog.records == []
    _log_full_collection("start", {"generation": 2})
    _log_full_collection("stop", {"generation": 2, "collected": 1234, "uncollectable": 0})
    assert len(caplog.records) == 1
    assert "1234 objects collected" in caplog.records[0].getMessage()
