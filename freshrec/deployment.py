"""Removing a deployment that a test, a benchmark run or an experiment made for itself.

Each names its topics, consumer group and Redis prefix with one unique id on a shared stack; this
deletes every topic whose name holds the id, every key under the prefix and the worker's local table
data (of each role), best effort: a cleanup never masks the result of what ran before it.
"""

from __future__ import annotations

import shutil

from freshrec.settings import Settings

ROLE_SUFFIXES = ("", "-users", "-items")  # worker folders are named after the role's group


def remove_deployment(settings: Settings, unique: str, redis_client=None) -> None:
    """Delete the topics named with ``unique``, the keys under ``settings.redis_prefix`` (through
    ``redis_client`` when given, else a client for ``settings.redis_url``) and the worker folders."""
    from kafka import KafkaAdminClient

    from freshrec.kafka_security import kafka_python_config
    from freshrec.redis_url import sync_client

    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, client_id=f"cleanup-{unique}",
                                 request_timeout_ms=10_000, **kafka_python_config(settings))
        try:
            mine = [t for t in admin.list_topics() if unique in t]
            if mine:
                admin.delete_topics(mine)
        finally:
            admin.close()
    except Exception:  # noqa: BLE001 - a private broker may already be gone
        pass
    own = redis_client is None
    try:
        client = sync_client(settings.redis_url) if own else redis_client
        for key in client.scan_iter(match=f"{settings.redis_prefix}*", count=1000):
            client.delete(key)
        if own:
            client.close()
    except Exception:  # noqa: BLE001 - Redis may be the thing that was stopped
        pass
    for suffix in ROLE_SUFFIXES:
        shutil.rmtree(settings.cache_dir / "worker" / (settings.worker_app_id + suffix), ignore_errors=True)
