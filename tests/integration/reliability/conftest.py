"""Fixtures of the reliability tests: services must answer (never a silent skip), deployments clean up."""

from __future__ import annotations

import pytest

from freshrec.settings import Settings


@pytest.fixture(scope="session")
def shared_stack() -> Settings:
    from freshrec.stack.kafka import answers_metadata
    from freshrec.stack.redis import answers_ping

    settings = Settings()
    if not answers_metadata(settings.kafka_bootstrap) or not answers_ping(settings.redis_url):
        pytest.fail("Kafka/Redis do not answer: run `freshrec stack up` (make test does)")
    return settings


@pytest.fixture
def deployments(shared_stack, tmp_path):
    """A factory of isolated deployments, all cleaned up after the test."""
    from .harness import Deployment

    made = []

    def make(**kw) -> Deployment:
        dep = Deployment(tmp_path, **kw)
        made.append(dep)
        return dep

    yield make
    for dep in made:
        dep.cleanup()


@pytest.fixture
def private_redis(tmp_path):
    from .harness import PrivateRedis

    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def reference_run(shared_stack, tmp_path_factory):
    """One uninterrupted single worker over :func:`replay.replay_events`: the state others must reach."""
    from .harness import Deployment, wait_until
    from .replay import all_reflected, replay_events

    events = replay_events()
    dep = Deployment(tmp_path_factory.mktemp("reference"))
    try:
        dep.ensure_topics()
        with dep.producer() as out:
            for ev in events:
                out.send_event(ev)
        worker = dep.worker()
        worker.start()
        wait_until(lambda: all_reflected(dep, events), 180, lambda: f"the reference run (log: {worker.log()})",
                   interval=0.5)
        yield dep, events
    finally:
        dep.cleanup()
