from __future__ import annotations

import asyncio
import time

import pytest

from contracts.events import Event, encode_event
from freshrec.settings import Settings
from streams.app import build

from .fakes import FakeTopics, FakeWriter
from .minimal_recommender import MinimalRecommender


class Harness:
    """A worker built in process (store memory://) with its Kafka outputs and Redis replaced by fakes."""

    def __init__(self, unique: str, recommender=None, **overrides):
        # No tuning swaps unless a test asks: the default store is shared by everything on the machine,
        # and a configuration a trainer published there would change these tests' lists.
        overrides.setdefault("tuning_poll_s", 0.0)
        settings = Settings(worker_app_id=f"ft-{unique}", redis_prefix="ft:", worker_take_ms=2.0, **overrides)
        self.recommender = recommender if recommender is not None else MinimalRecommender()
        self.crashes: list[tuple[str, Exception]] = []  # what would have ended the worker process
        self.pipeline = build(settings, self.recommender,
                              on_agent_crash=lambda agent, exc: self.crashes.append((agent, exc)))
        self.writer = FakeWriter()
        self.out = FakeTopics()
        h = self.pipeline.handlers
        h.writer = self.writer
        h.topics = self.out
        self.handlers = h
        self.tables = self.pipeline.tables
        self.agents = self.pipeline.agents
        self.n = 0
        self.t0 = int(time.time() * 1000) - 3_600_000

    def event(self, user: str, item: str, type_: str = "view", **kw) -> Event:
        self.n += 1
        kw.setdefault("event_id", f"e{self.n}")
        kw.setdefault("ts", self.t0 + self.n * 1000)
        return Event(user_id=user, item_id=item, type=type_, **kw)


async def wait_for(cond, timeout: float = 5.0, what: str = "condition"):
    """Poll ``cond()`` (the take window flushes on a timer) until true or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def harness(unique):
    return Harness(unique)


def raw(ev: Event) -> bytes:
    return encode_event(ev)
