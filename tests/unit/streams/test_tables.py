"""The worker's tables: raw-keyed changelogs that keep Faust's changelog options (streams/tables.py)."""

from __future__ import annotations

from freshrec.settings import Settings
from streams.app import build


def test_changelogs_are_raw_keyed_and_not_consumed_as_sources():
    pipeline = build(Settings(worker_app_id="tables-unit"))
    for name in ("sessions", "item_stats", "neighbors", "catalog"):
        table = getattr(pipeline.tables, name)
        topic = table.changelog_topic
        assert topic.get_topic_name() == f"tables-unit-{name.replace('_', '-')}-changelog"
        assert topic.key_serializer == "raw"
        # acks on would make Faust track offset gaps of these (compacted) topics forever: issue #10's soak.
        assert topic.acks is False, name
        assert topic.allow_empty  # tombstones (forget, expiry, removed items) pass through
