"""Redis URLs and the clients they open: one node (``redis://``, ``rediss://``) or a Redis Cluster.

A cluster is selected by the scheme alone, ``redis+cluster://user:password@host:port`` (or
``rediss+cluster://`` with TLS): any one node's address is enough, the client learns the others from
``CLUSTER SLOTS``. A scheme rather than a query flag, so that code which opens the URL with a plain
``redis.Redis.from_url`` fails at once ("must specify one of the following schemes") instead of
talking to one node of a cluster and getting MOVED for two thirds of the keys.

Every Freshrec key is one hash slot on its own (the key schema has no hash tags, and keeps none:
shop frontends read the keys by name), so multi-key operations are grouped by slot by the callers
(:mod:`streams.writer`, :mod:`serving.cluster_pipeline`); single-key commands are routed by redis-py.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
NODE_SCHEMES = ("redis", "rediss", "unix")


class RedisUrlError(ValueError):
    """A Redis URL Freshrec cannot use; the message says which part and why."""


def is_cluster(url: str) -> bool:
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def node_url(url: str) -> str:
    """The plain ``redis://`` form of a cluster URL (the same URL for a single node), checked.

    A cluster has only database 0, so any other database in the path is refused rather than ignored.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise RedisUrlError(f"Redis URL {_redacted(url)!r} has no scheme: use redis://, rediss:// or "
                            "redis+cluster://")
    low = scheme.lower()
    if low in CLUSTER_SCHEMES:
        parts = urlsplit(f"redis://{rest}")
        if not parts.hostname or not parts.port:
            raise RedisUrlError(f"cluster URL {_redacted(url)!r} needs a host:port of one node")
        if parts.path.strip("/") not in ("", "0"):
            raise RedisUrlError(f"cluster URL {_redacted(url)!r}: a Redis Cluster has only database 0")
        return f"{CLUSTER_SCHEMES[low]}://{rest}"
    if low not in NODE_SCHEMES:
        raise RedisUrlError(f"Redis URL {_redacted(url)!r}: unknown scheme {scheme!r} (redis://, rediss://, "
                            "unix://, redis+cluster://, rediss+cluster://)")
    return url


def sync_client(url: str, **kwargs: Any):
    """``redis.Redis`` for a node URL, ``redis.cluster.RedisCluster`` for a cluster URL."""
    import redis
    from redis.cluster import RedisCluster

    plain = node_url(url)
    if is_cluster(url):
        kwargs.pop("max_connections", None)  # per node in a cluster: keep redis-py's default
        return RedisCluster.from_url(plain, require_full_coverage=False, **kwargs)
    return redis.Redis.from_url(plain, **kwargs)


def async_client(url: str, **kwargs: Any):
    """``redis.asyncio.Redis`` for a node URL, ``redis.asyncio.cluster.RedisCluster`` for a cluster.

    ``require_full_coverage=False``: while one master is away, the keys of the others stay readable
    and writable (the stack's nodes run with ``cluster-require-full-coverage no`` for the same reason).
    """
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster

    plain = node_url(url)
    if is_cluster(url):
        return RedisCluster.from_url(plain, require_full_coverage=False, **kwargs)
    return aioredis.Redis.from_url(plain, **kwargs)


def is_cluster_client(client: object) -> bool:
    from redis.asyncio.cluster import RedisCluster as AsyncCluster
    from redis.cluster import RedisCluster

    return isinstance(client, (RedisCluster, AsyncCluster))


def _redacted(url: str) -> str:
    from freshrec.settings import redact_url

    return redact_url(url)
