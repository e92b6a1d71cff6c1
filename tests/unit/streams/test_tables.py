"""The worker's tables: raw-keyed changelogs that keep Faust's changelog options (streams/tables.py)."""

from __future__ import annotations

from freshrec.settings import Settings
from streams.app import build


def test_changelogs_are_raw_keyed_and_not_consumed_as_sources():
    pipeline = build(Settings(worker_app_id="tables-unit"))
    for name in ("sessions", "item_stats", "neighbor_packs", "catalog"):
        table = getattr(pipeline.tables, name)
        topic = table.changelog_topic
        assert topic.get_topic_name() == f"tables-unit-{name.replace('_', '-')}-changelog"
        assert topic.key_serializer == "raw"
        # acks on would make Faust track offset gaps of these (compacted) topics forever: issue #10's soak.
        assert topic.acks is False, name
        assert topic.allow_empty  # tombstones (forget, expiry, removed items) pass through


def test_the_neighbour_packs_changelog_is_a_log_and_users_workers_hold_no_neighbors_table():
    """Packs share one key, so compaction would keep the last one only; and the per-item lists are a
    plain compacted topic read once at start (streams/bootstrap.py), never a Faust table that Faust
    would keep reading a record at a time after recovery."""
    from streams.topics import neighbors_name

    pipeline = build(Settings(worker_app_id="tables-unit"))
    packs = pipeline.tables.neighbor_packs
    assert packs._changelog_compacting is False and packs._changelog_deleting is True
    assert not hasattr(pipeline.tables, "neighbors")
    assert pipeline.topics.neighbors.get_topic_name() == neighbors_name(pipeline.settings)
    items_only = build(Settings(worker_app_id="tables-unit-items", worker_role="items"))
    assert items_only.tables.neighbor_packs is None  # only users workers read the broadcast
