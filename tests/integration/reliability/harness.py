"""Real processes for the reliability tests: worker subprocesses, a private Redis, state snapshots.

Every deployment has its own app id (consumer group, changelog topics), topics and key prefix, so
these tests run beside everyone else's on the shared stack. Table state is read back from the
changelog topics (last value per key), which is exactly what a restarted worker recovers.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import redis

from freshrec.redis_url import sync_client
from freshrec.settings import Settings

from ..waiting import wait_until  # noqa: F401  (re-exported: tests import it from here)
from ..workers import REPO, WorkerProcess, isolated_overrides, remove_deployment, worker_env  # noqa: F401


@contextmanager
def own_stack(stack_dir: Path, cache_dir: Path, **shape):
    """A Kafka + Redis of the test's own (the stack manager in ``stack_dir``, ``shape`` its stack_*
    settings), up for the block and down after it: ``(stack, connection file)``."""
    from freshrec.stack.manager import Stack

    stack = Stack(Settings(stack_dir=stack_dir, cache_dir=cache_dir, **shape))
    try:
        stack.up()
        yield stack, json.loads(stack.paths.connection.read_text())
    finally:
        stack.down()


class PrivateRedis:
    """A redis-server of our own on a free loopback port, stoppable and restartable on that port
    (with the stack's AOF config, so a graceful stop keeps the data)."""

    def __init__(self, root: Path, extra_lines: list[str] | None = None):
        from freshrec.stack import redis as stack_redis
        from freshrec.stack.process import free_port

        self.root = root
        self.port = free_port()
        self.password = secrets.token_urlsafe(16)
        self.binary = stack_redis.ensure_installed()
        self.config = stack_redis.write_config(root / "conf", root / "data", self.port, self.password,
                                               extra_lines=extra_lines)
        self.url = f"redis://:{self.password}@127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        from freshrec.stack import redis as stack_redis

        with open(self.root / "redis.log", "ab") as log:
            self.proc = subprocess.Popen([self.binary, str(self.config)], stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: stack_redis.answers_ping(self.url), 30, "private redis")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class KeyWatcher:
    """Records every key touched in a Redis (keyspace notifications), so no key escapes a check."""

    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url)
        self.client.config_set("notify-keyspace-events", "KA")
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe("__keyspace@*__:*")
        self.keys: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.pubsub.get_message(timeout=0.2)
            if msg and msg["type"] == "pmessage":
                channel = msg["channel"].decode(errors="surrogateescape")
                self.keys.add(channel.split(":", 1)[1])

    def close(self) -> set[str]:
        self._stop.set()
        self._thread.join(5)
        self.pubsub.close()
        self.client.close()
        return self.keys


class Deployment:
    """Names, settings and clients of one isolated worker deployment (one or more workers)."""

    def __init__(self, tmp: Path, *, redis_url: str | None = None, kafka_bootstrap: str | None = None,
                 **extra: str):
        u = uuid.uuid4().hex[:10]
        self.unique = u
        self.tmp = tmp
        overrides = isolated_overrides(u, "rel-worker", "r")
        if redis_url:
            overrides["FRESHREC_REDIS_URL"] = overrides["FRESHREC_REDIS_WRITE_URL"] = redis_url
        if kafka_bootstrap:
            overrides["FRESHREC_KAFKA_BOOTSTRAP"] = kafka_bootstrap
        overrides.update(extra)
        self.env_overrides = overrides
        env = worker_env(overrides)
        self.env = env
        self.settings = Settings(**{k.removeprefix("FRESHREC_").lower(): v for k, v in overrides.items()})
        self.redis = sync_client(self.settings.redis_url)  # a redis+cluster:// URL gets a cluster client
        self.workers: list[WorkerProcess] = []

    def worker(self, loglevel: str = "warning") -> WorkerProcess:
        w = WorkerProcess(self.env, self.tmp / f"worker-{self.unique}-{len(self.workers)}.log", loglevel)
        self.workers.append(w)
        return w

    def ensure_topics(self) -> None:
        from streams.topics import ensure_topics

        ensure_topics(self.settings)

    def producer(self, **kw):
        from producers.kafka_out import EventProducer

        return EventProducer.from_settings(self.settings, linger_ms=kw.pop("linger_ms", 5), **kw)

    def stats(self) -> dict[str, int]:
        raw = self.redis.hgetall(self.settings.redis_prefix + "stats:worker")
        out = {}
        for k, v in raw.items():
            try:
                out[k.decode()] = int(v)
            except ValueError:
                pass
        return out

    def end_offsets(self, topic: str) -> int:
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap)
        try:
            parts = c.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in parts]
            return sum(c.end_offsets(tps).values()) if tps else 0
        finally:
            c.close()

    def committed_offsets(self) -> dict[str, int]:
        """The consumer group's committed offsets, ``topic[partition]: offset`` (failure reports)."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=10_000)
        try:
            group = self.settings.worker_app_id
            offsets = admin.list_group_offsets(group).get(group, {})
            return {f"{tp.topic}[{tp.partition}]": om.offset for tp, om in sorted(offsets.items())}
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            return {"error": repr(exc)}
        finally:
            admin.close()

    def group_state(self) -> str:
        """The consumer group's state and member count (failure reports)."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap, request_timeout_ms=10_000)
        try:
            info = admin.describe_groups([self.settings.worker_app_id])[self.settings.worker_app_id]
            return f"{info['group_state']}, {len(info['members'])} member(s)"
        except Exception as exc:  # noqa: BLE001 - diagnostics only
            return repr(exc)
        finally:
            admin.close()

    def read_topic(self, topic: str, timeout: float = 60.0) -> list:
        """Every record now in ``topic`` (up to its end offsets when called)."""
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap, enable_auto_commit=False,
                          max_partition_fetch_bytes=4 << 20, fetch_max_bytes=16 << 20)
        try:
            tps = [TopicPartition(topic, p) for p in (c.partitions_for_topic(topic) or set())]
            if not tps:
                return []  # not created yet (a changelog appears with its table's first write)
            c.assign(tps)
            c.seek_to_beginning(*tps)
            ends = c.end_offsets(tps)
            out = []
            deadline = time.monotonic() + timeout
            while any(c.position(tp) < ends[tp] for tp in tps):
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out reading {topic}")
                for recs in c.poll(timeout_ms=500).values():
                    out.extend(recs)
            return out
        finally:
            c.close()

    def locate(self, event_ids: list[str]) -> dict[str, str]:
        """Where events sit in the events topic, ``partition@offset`` (failure reports)."""
        wanted = set(event_ids)
        out = {}
        for rec in self.read_topic(self.settings.topic_events):
            found = next((e for e in wanted if f'"{e}"'.encode() in rec.value), None)
            if found:
                out[found] = f"{rec.partition}@{rec.offset}"
        return out

    def missing_report(self, events) -> str:
        """Which events no session holds, where they sit, and the group's commits (failure reports)."""
        from .replay import sessions_state

        state = sessions_state(self)
        missing = [e.event_id for e in events if e.user_id not in state or e.event_id not in state[e.user_id].event_ids]
        return (f"{len(missing)} of {len(events)} missing (first {missing[:5]}, at {self.locate(missing[:5])}), "
                f"stats {self.stats()}, committed offsets {self.committed_offsets()}, group {self.group_state()}")

    def changelog(self, table: str) -> dict[str, bytes]:
        """A table's state as a restarted worker would recover it: the last value per key."""
        state: dict[str, bytes] = {}
        for rec in self.read_topic(f"{self.settings.worker_app_id}-{table}-changelog"):
            key = rec.key.decode()
            if rec.value is None:
                state.pop(key, None)
            else:
                state[key] = rec.value
        return state

    def cleanup(self) -> None:
        for w in self.workers:
            w.stop()
        remove_deployment(self.settings, self.unique, self.redis)
