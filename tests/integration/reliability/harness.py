"""Real processes for the reliability tests: worker subprocesses, a private Redis, state snapshots.

Every deployment has its own app id (consumer group, changelog topics), topics and key prefix, so
these tests run beside everyone else's on the shared stack. Table state is read back from the
changelog topics (last value per key), which is exactly what a restarted worker recovers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import redis

from freshrec.settings import Settings

from ..waiting import wait_until  # noqa: F401  (re-exported: tests import it from here)

REPO = Path(__file__).resolve().parents[3]


class WorkerProcess:
    """``freshrec worker`` in a subprocess; ``kill()`` is a SIGKILL (no flush, no commit)."""

    def __init__(self, env: dict[str, str], log_path: Path, loglevel: str = "warning"):
        self.env = env
        self.log_path = log_path
        self.loglevel = loglevel
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "freshrec", "worker", "--loglevel", self.loglevel],
                                         cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, timeout: float = 60) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


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
        overrides = {
            "FRESHREC_WORKER_APP_ID": f"rel-worker-{u}",
            "FRESHREC_TOPIC_EVENTS": f"test.events.{u}",
            "FRESHREC_TOPIC_CATALOG": f"test.catalog.{u}",
            "FRESHREC_TOPIC_DEAD_LETTER": f"test.dlq.{u}",
            "FRESHREC_TOPIC_ITEM_UPDATES": f"test.item-updates.{u}",
            "FRESHREC_REDIS_PREFIX": f"r{u}:",
            "FRESHREC_TRENDING_INTERVAL_S": "0.5",
            "FRESHREC_WORKER_WEB_PORT": "0",
            "FRESHREC_NEIGHBORS_PUBLISH_S": "0.5",
            "FRESHREC_WORKER_ITEM_TAKE_MS": "50",
        }
        if redis_url:
            overrides["FRESHREC_REDIS_URL"] = overrides["FRESHREC_REDIS_WRITE_URL"] = redis_url
        if kafka_bootstrap:
            overrides["FRESHREC_KAFKA_BOOTSTRAP"] = kafka_bootstrap
        overrides.update(extra)
        self.env_overrides = overrides
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRESHREC_")}
        env.update({k: v for k, v in os.environ.items()
                    if k in ("FRESHREC_KAFKA_BOOTSTRAP", "FRESHREC_REDIS_URL", "FRESHREC_CACHE_DIR",
                             "FRESHREC_STACK_DIR")})
        env.update(overrides)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.env = env
        self.settings = Settings(**{k.removeprefix("FRESHREC_").lower(): v for k, v in overrides.items()})
        self.redis = redis.Redis.from_url(self.settings.redis_url)
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
        from kafka import KafkaAdminClient

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap,
                                     client_id=f"cleanup-{self.unique}", request_timeout_ms=10_000)
        except Exception:  # noqa: BLE001 - a private broker may already be gone
            admin = None
        if admin is not None:
            try:
                mine = [t for t in admin.list_topics() if self.unique in t]
                if mine:
                    admin.delete_topics(mine)
            except Exception:  # noqa: BLE001 - cleanup must not mask the test's own result
                pass
            finally:
                admin.close()
        try:
            for key in self.redis.scan_iter(match=f"{self.settings.redis_prefix}*", count=1000):
                self.redis.delete(key)
        except redis.RedisError:
            pass
        self.redis.close()
        shutil.rmtree(self.settings.cache_dir / "worker" / self.settings.worker_app_id, ignore_errors=True)
