"""Which Redis URL opens which client, and the errors a wrong one gets (no server needed)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from freshrec.redis_url import RedisUrlError, is_cluster, node_url
from freshrec.settings import Settings


@pytest.mark.parametrize("url, cluster, plain", [
    ("redis://:pw@h:6379/0", False, "redis://:pw@h:6379/0"),
    ("rediss://u:pw@h:6380/2", False, "rediss://u:pw@h:6380/2"),
    ("redis+cluster://u:pw@h:7000", True, "redis://u:pw@h:7000"),
    ("redis+cluster://u:pw@h:7000/0", True, "redis://u:pw@h:7000/0"),
    ("REDISS+CLUSTER://u:pw@h:7000/0?ssl_ca_certs=/ca.pem", True, "rediss://u:pw@h:7000/0?ssl_ca_certs=/ca.pem"),
])
def test_the_scheme_alone_selects_cluster_mode(url, cluster, plain):
    assert is_cluster(url) is cluster
    assert node_url(url) == plain


@pytest.mark.parametrize("url, says", [
    ("redis+cluster://:pw@h:7000/3", "only database 0"),
    ("redis+cluster://:pw@h", "host:port"),
    ("redis+clustr://:pw@h:7000", "unknown scheme"),
    ("h:6379", "no scheme"),
])
def test_a_wrong_url_is_refused_with_the_reason_and_no_password(url, says):
    with pytest.raises(RedisUrlError, match=says) as info:
        node_url(url)
    assert "pw" not in str(info.value)


def test_settings_refuse_a_bad_redis_url_without_echoing_it():
    with pytest.raises(ValidationError) as info:
        Settings(redis_url="redis+cluster://:secret-pw@h:7000/5")
    assert "only database 0" in str(info.value) and "secret-pw" not in str(info.value)


def test_clients_follow_the_url():
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio.cluster import RedisCluster as AsyncCluster

    from freshrec.redis_url import async_client, is_cluster_client

    single = async_client("redis://127.0.0.1:1/0")
    cluster = async_client("redis+cluster://127.0.0.1:1/0")  # connects lazily, on the first command
    assert isinstance(single, AsyncRedis) and not is_cluster_client(single)
    assert isinstance(cluster, AsyncCluster) and is_cluster_client(cluster)


def test_replicated_topics_get_min_insync_one_less_than_replicas():
    assert Settings(topic_replication_factor=1).topic_configs() == {}
    assert Settings(topic_replication_factor=3).topic_configs() == {"min.insync.replicas": "2"}
    assert Settings(topic_replication_factor=3, topic_min_insync_replicas=3).topic_configs() == {
        "min.insync.replicas": "3"}
