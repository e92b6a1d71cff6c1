"""A real worker subprocess per test module: unique app id, topics and Redis prefix, removed afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from freshrec.settings import Settings

from ..waiting import wait_until  # noqa: F401  (re-exported: tests import it from here)

REPO = Path(__file__).resolve().parents[3]
RECOMMENDER = os.environ.get("FRESHREC_TEST_WORKER_RECOMMENDER", "models.recommender:StreamRecommender")


class WorkerProcess:
    """``freshrec worker`` in a subprocess with its own FRESHREC_* environment."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "freshrec", "worker", "--loglevel", "warning"],
                                     cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


class Deployment:
    """Names, settings and clients of one isolated worker deployment."""

    def __init__(self, tmp: Path, **extra: str):
        u = uuid.uuid4().hex[:10]
        self.unique = u
        self.env_overrides = {
            "FRESHREC_WORKER_APP_ID": f"it-worker-{u}",
            "FRESHREC_TOPIC_EVENTS": f"test.events.{u}",
            "FRESHREC_TOPIC_CATALOG": f"test.catalog.{u}",
            "FRESHREC_TOPIC_DEAD_LETTER": f"test.dlq.{u}",
            "FRESHREC_TOPIC_ITEM_UPDATES": f"test.item-updates.{u}",
            "FRESHREC_REDIS_PREFIX": f"t{u}:",
            "FRESHREC_WORKER_RECOMMENDER": RECOMMENDER,
            "FRESHREC_TRENDING_INTERVAL_S": "0.5",
            "FRESHREC_WORKER_WEB_PORT": "0",
            "FRESHREC_NEIGHBORS_PUBLISH_S": "0.5",
            "FRESHREC_WORKER_ITEM_TAKE_MS": "50",
            **extra,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRESHREC_")}
        env.update({k: v for k, v in os.environ.items() if k in ("FRESHREC_KAFKA_BOOTSTRAP", "FRESHREC_REDIS_URL",
                                                              "FRESHREC_CACHE_DIR", "FRESHREC_STACK_DIR")})
        env.update(self.env_overrides)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.env = env
        self.settings = Settings(**{k.removeprefix("FRESHREC_").lower(): v for k, v in self.env_overrides.items()})
        self.worker = WorkerProcess(env, tmp / f"worker-{u}.log")
        self.redis = redis.Redis.from_url(self.settings.redis_url)

    def producer(self):
        from producers.kafka_out import EventProducer
        return EventProducer.from_settings(self.settings, linger_ms=1)

    def cleanup(self) -> None:
        self.worker.stop()
        from kafka import KafkaAdminClient
        admin = KafkaAdminClient(bootstrap_servers=self.settings.kafka_bootstrap, client_id=f"cleanup-{self.unique}")
        try:
            mine = [t for t in admin.list_topics() if self.unique in t]
            if mine:
                admin.delete_topics(mine)
        except Exception:  # noqa: BLE001 - cleanup must not mask the test's own result
            pass
        finally:
            admin.close()
        for key in self.redis.scan_iter(match=f"{self.settings.redis_prefix}*", count=1000):
            self.redis.delete(key)
        self.redis.close()
        shutil.rmtree(self.settings.cache_dir / "worker" / self.settings.worker_app_id, ignore_errors=True)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, request):
    settings = Settings()
    from freshrec.stack.kafka import answers_metadata
    from freshrec.stack.redis import answers_ping
    if not answers_metadata(settings.kafka_bootstrap) or not answers_ping(settings.redis_url):
        pytest.fail("Kafka/Redis do not answer: run `freshrec stack up` (make test does)")
    dep = Deployment(tmp_path_factory.mktemp("worker"))
    yield dep
    dep.cleanup()
