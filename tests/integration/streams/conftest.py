"""A real worker subprocess per test module: unique app id, topics and Redis prefix, removed afterwards."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import redis

from freshrec.settings import Settings

from ..waiting import wait_until  # noqa: F401  (re-exported: tests import it from here)
from ..workers import REPO, WorkerProcess, isolated_overrides, remove_deployment, worker_env  # noqa: F401

# The worker's own default (FRESHREC_WORKER_RECOMMENDER's, from_settings) unless a run names another.
RECOMMENDER = os.environ.get("FRESHREC_TEST_WORKER_RECOMMENDER")


class Deployment:
    """Names, settings and clients of one isolated worker deployment."""

    def __init__(self, tmp: Path, **extra: str):
        u = uuid.uuid4().hex[:10]
        self.unique = u
        chosen = {"FRESHREC_WORKER_RECOMMENDER": RECOMMENDER} if RECOMMENDER else {}
        self.env_overrides = {**isolated_overrides(u, "it-worker", "t"), **chosen,
                              **extra}
        self.env = worker_env(self.env_overrides)
        self.settings = Settings(**{k.removeprefix("FRESHREC_").lower(): v for k, v in self.env_overrides.items()})
        self.worker = WorkerProcess(self.env, tmp / f"worker-{u}.log")
        self.redis = redis.Redis.from_url(self.settings.redis_url)

    def producer(self):
        from producers.kafka_out import EventProducer
        return EventProducer.from_settings(self.settings, linger_ms=1)

    def cleanup(self) -> None:
        self.worker.stop()
        remove_deployment(self.settings, self.unique, self.redis)


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
