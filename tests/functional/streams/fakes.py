"""In-process stand-ins for the worker's I/O edges: Kafka output topics and the Redis writer."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.redis_keys import Keys, RecList


@dataclass
class FakeTopic:
    sent: list[dict] = field(default_factory=list)

    def send_soon(self, *, key=None, value=None, partition=None, headers=None, **kw):
        self.sent.append({"key": key, "value": value, "partition": partition, "headers": headers})

    async def send(self, *, key=None, value=None, partition=None, headers=None, **kw):
        self.send_soon(key=key, value=value, partition=partition, headers=headers)


@dataclass
class FakeTopics:
    item_updates: FakeTopic = field(default_factory=FakeTopic)
    dead_letter: FakeTopic = field(default_factory=FakeTopic)
    neighbors: FakeTopic = field(default_factory=FakeTopic)
    neighbor_packs: FakeTopic = field(default_factory=FakeTopic)


class FakePipe:
    def __init__(self, writer: FakeWriter):
        self.writer = writer

    def delete(self, key):
        self.writer.deleted.append(key)

    def hincrby(self, *a):
        pass

    def hset(self, *a, **kw):
        pass


class FakeWriter:
    """Records what would reach Redis; ``lists[key]`` keeps the newest list per key, like the Lua script."""

    def __init__(self, prefix: str = "ft:"):
        self.keys = Keys(prefix)
        self.lists: dict[str, RecList] = {}
        self.items: dict[str, bytes | None] = {}
        self.deleted: list[str] = []
        self.writes = 0

    async def write_lists(self, lists, ttl_ms, *, stats=None, gauges=None) -> int:
        written = 0
        for key, rec in lists:
            cur = self.lists.get(key)
            if cur is None or cur.event_ts <= rec.event_ts:
                self.lists[key] = rec
                written += 1
        self.writes += 1
        return written

    async def execute(self, build):
        build(FakePipe(self), "sha")
        return []

    async def set_item(self, item_id, body):
        self.items[item_id] = body

    async def close(self):
        pass

    def user_items(self, user: str) -> list[str]:
        rec = self.lists.get(self.keys.user_recs(user))
        return [] if rec is None else [r.item for r in rec.items]
