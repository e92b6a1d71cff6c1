"""The worker's Faust tables: explicit stable names, since names become changelog topics.

Values are msgspec-encoded bytes (raw serializer): one fast codec call at the boundary and compact
memory, with no Faust model reconstruction on recovery.

- ``sessions`` (user -> :class:`streams.session.SessionState`), partitioned like the events topic;
  its :class:`SessionsTable` indexes keys by last write so idle users expire (``streams.expiry``).
- ``item-stats`` (item -> :class:`streams.covis.ItemStats`), partitioned like the item-updates topic.
- ``neighbor-packs`` (global, users side only): the live broadcast of the published neighbour lists,
  a slice of them per record (:class:`streams.covis.NeighborPack`), read by every users worker, so
  any worker can score any user. A log with a short retention, not a compacted table; a starting
  worker reads every item's newest list from the compacted ``neighbors`` topic first
  (streams/bootstrap.py).
- ``catalog`` (global, item -> catalog item JSON): every worker's model knows every item.

Changelog partitions come from the key (:func:`key_partition`, murmur2 like the Java and kafka-python
producers) and not from Faust's "current event": a take window mixes partitions, so the current event
says nothing about the key being written, and the producer's partitioner is not running in tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache

import faust
from faust.types import EventT

from contracts.packs import partition_of
from freshrec.settings import Settings
from streams.expiry import IdleIndex
from streams.topics import NEIGHBOR_PACKS_RETENTION_MS

ChangelogHook = Callable[[EventT], Awaitable[None]]


@lru_cache(maxsize=1 << 18)
def key_partition(key: str | bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (so tables line up with their topics).
    Cached: kafka-python's murmur2 is pure Python (~3 us), and the worker asks for every user and
    every item of every window, a few hundred thousand times a second at full speed."""
    return partition_of(key.encode() if isinstance(key, str) else key, partitions)


class SharedChangelog:
    """A table whose changelog is named after ``worker_app_id`` rather than the role's app id, so the
    users and the items workers (``--role``) share the global tables. Faust's assignor asks the table
    for this name (``_changelog_topic_name``), not the topic, so the name must come from here."""

    changelog_name: str | None = None

    def _changelog_topic_name(self) -> str:
        return self.changelog_name or super()._changelog_topic_name()


class KeyPartitionedTable(SharedChangelog, faust.Table):
    def partition_for_key(self, key) -> int:
        return key_partition(key, self.changelog_topic.partitions or self.app.conf.topic_partitions)


class SessionsTable(KeyPartitionedTable):
    """The ``sessions`` table plus the index of its keys by last write (``idle``; None = no expiry)."""

    idle: IdleIndex | None = None
    source_topic: str | None = None  # the events topic: its partitions are this table's partitions

    def on_key_set(self, key, value) -> None:
        super().on_key_set(key, value)
        if self.idle is not None:
            self.idle.touch(key)

    def on_key_del(self, key) -> None:
        super().on_key_del(key)
        if self.idle is not None:
            self.idle.discard(key)

    async def adopt_recovered(self) -> None:
        # Recovery fills the store directly (no on_key_set): index what it restored, as written now.
        if self.idle is not None:
            self.idle.adopt(self.data.keys())

    async def on_rebalance(self, assigned, revoked, newly_assigned, generation_id: int = 0) -> None:
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)
        if self.idle is None or not newly_assigned:
            return
        # A partition coming back may hold rows another worker wrote since we last saw them: forget our
        # old write times for them, and the recovery adopts them as written now.
        names = {self.changelog_topic.get_topic_name(), self.source_topic}
        fresh = {tp.partition for tp in newly_assigned if tp.topic in names}
        if fresh:
            self.idle.discard_where(lambda key: self.partition_for_key(key) in fresh)


class KeyPartitionedGlobalTable(SharedChangelog, faust.GlobalTable):
    def partition_for_key(self, key) -> int:
        return key_partition(key, self.changelog_topic.partitions or 1)


class BroadcastTable(KeyPartitionedGlobalTable):
    """A global table used for its reader: every worker gets every record of its changelog, which
    is a log (delete policy, short retention) rather than compacted state. The values live in the
    ``on_changelog_event`` hook; the store keeps only the newest record per key."""

    _changelog_compacting = False
    _changelog_deleting = True


@dataclass(frozen=True)
class Tables:
    """A worker's tables; ``sessions`` only where it runs the users side, ``item_stats`` the items side."""

    sessions: SessionsTable | None
    item_stats: faust.Table | None
    catalog: faust.GlobalTable
    neighbor_packs: faust.GlobalTable | None = None


def _table(app: faust.App, settings: Settings, cls, name: str, **kwargs):
    # app.Table / app.GlobalTable always build the configured class; ours differ in partitioning only.
    table = cls(app, name=name, beacon=app.tables.beacon, **kwargs)
    # The changelog is named after worker_app_id, not the role's app id: a users and an items worker
    # share the global tables (SharedChangelog).
    table.changelog_name = f"{settings.worker_app_id}-{name}-changelog"
    # Faust would JSON-quote str keys; raw keys hash (murmur2) exactly like the producers' keys, so a
    # user's changelog partition is the partition of the user's events.
    table.key_serializer = "raw"
    table.changelog_topic = raw_keyed(table.changelog_topic)
    return app.tables.add(table)


def make_tables(app: faust.App, settings: Settings, *, on_neighbor_pack: ChangelogHook,
                on_catalog: ChangelogHook) -> Tables:
    raw = {"key_type": str, "value_type": bytes}
    n = settings.topic_partitions
    # One partition and a recovery buffer of 1 for the global tables: the documented way to keep a
    # GlobalTable from looping in recovery when several workers share it (faust.tables.globaltable).
    # synchronize_all_active_partitions: keep reading the changelog after recovery, so lists written by
    # other workers keep arriving (without it a global table is only read once, at startup).
    glob = {"is_global": True, "standby_buffer_size": 1, "partitions": 1, "recovery_buffer_size": 1,
            "synchronize_all_active_partitions": True}
    tables = Tables(
        sessions=_table(app, settings, SessionsTable, "sessions", partitions=n, help="user -> session state",
                        **raw) if settings.runs("users") else None,
        item_stats=_table(app, settings, KeyPartitionedTable, "item-stats", partitions=n,
                          help="item -> decayed co-visitation counts", **raw) if settings.runs("items") else None,
        catalog=_table(app, settings, KeyPartitionedGlobalTable, "catalog", on_changelog_event=on_catalog,
                       help="item -> catalog item JSON", **glob, **raw),
        neighbor_packs=_table(app, settings, BroadcastTable, "neighbor-packs", on_changelog_event=on_neighbor_pack,
                              help="broadcast of neighbour lists, a slice per record",
                              extra_topic_configs={"retention.ms": NEIGHBOR_PACKS_RETENTION_MS},
                              **glob, **raw) if settings.runs("users") else None,
    )
    if settings.session_idle_ttl_s > 0 and tables.sessions is not None:
        tables.sessions.idle = IdleIndex(settings.session_idle_ttl_s)
        tables.sessions.source_topic = settings.topic_events
        tables.sessions.on_recover(tables.sessions.adopt_recovered)
    return tables


def raw_keyed(changelog):
    """The changelog topic with raw keys. Faust's ``derive`` drops the options it does not list, and
    ``acks=False`` among them: with acks on, a changelog counts as a consumed source, so every offset
    gap met while reading it (compaction leaves many in the global tables' changelogs, re-read all the
    time) went into Faust's never-committed gap tree, rebuilt on each gap. In a 30-minute soak that
    tree took 91 % of the worker's CPU by minute 20 (profiled): commits of 85 s, the worker falling
    behind and its RSS growing (issue #10)."""
    topic = changelog.derive(key_serializer="raw")
    topic.acks, topic.maxsize, topic.allow_empty = changelog.acks, changelog.maxsize, changelog.allow_empty
    return topic
