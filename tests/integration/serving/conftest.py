"""Fixtures for serving: a key prefix per test, lists written the way the worker writes them."""

from __future__ import annotations

import pytest

from contracts.redis_keys import WRITE_IF_NEWER_LUA, Keys, RecList, encode_rec_list


@pytest.fixture
def keys(unique) -> Keys:
    return Keys(f"t{unique}:")


@pytest.fixture
def write_list(redis_client):
    """Write a RecList through the worker's own compare-and-set script (returns 1 if written)."""
    script = redis_client.register_script(WRITE_IF_NEWER_LUA)

    def write(key: str, rec: RecList, ttl_ms: int = 120_000) -> int:
        return script(keys=[key], args=[rec.event_ts, encode_rec_list(rec), ttl_ms])

    return write
