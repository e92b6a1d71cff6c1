"""Shared fixtures. Integration tests need the real Kafka and Redis; under `make test` they are
always started, so a missing service fails loudly instead of skipping."""

from __future__ import annotations

import uuid

import pytest

from freshrec.settings import Settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def kafka_bootstrap(settings: Settings) -> str:
    from freshrec.stack.kafka import answers_metadata

    if not answers_metadata(settings.kafka_bootstrap):
        pytest.fail(f"Kafka does not answer at {settings.kafka_bootstrap}: run `freshrec stack up` "
                    "(make test does) or set FRESHREC_KAFKA_BOOTSTRAP")
    return settings.kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url(settings: Settings) -> str:
    from freshrec.stack.redis import answers_ping

    if not answers_ping(settings.redis_url):
        pytest.fail("Redis does not answer: run `freshrec stack up` (make test does) or set FRESHREC_REDIS_URL")
    return settings.redis_url


@pytest.fixture
def unique() -> str:
    """A short unique suffix: every test gets its own topics, groups and key prefixes."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def tmp_topic(kafka_bootstrap: str, unique: str):
    """Create a fresh topic (4 partitions) for one test and delete it afterwards."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, client_id=f"test-{unique}")
    created: list[str] = []

    def make(prefix: str = "t", partitions: int = 4, config: dict | None = None) -> str:
        name = f"test.{prefix}.{unique}.{len(created)}"
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1,
                                      topic_configs=config or {})])
        created.append(name)
        return name

    yield make
    if created:
        try:
            admin.delete_topics(created)
        except Exception:  # noqa: BLE001 - cleanup must not mask the test's own result
            pass
    admin.close()


@pytest.fixture
def redis_client(redis_url: str, unique: str):
    """A client whose test keys (prefixed with the unique id) are removed on teardown."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    for key in client.scan_iter(match=f"*{unique}*", count=1000):
        client.delete(key)
    client.close()
