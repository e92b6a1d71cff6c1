"""One typed settings object for every Freshrec process.

Values come, highest priority first, from ``FRESHREC_*`` environment variables, then from the
connection file the local stack manager writes (``<stack_dir>/stack.json``), then from defaults.
That order lets ``freshrec stack up`` pick free ports once and every later command find them,
while an operator can always point at an existing Kafka or Redis through the environment.
"""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "FRESHREC_"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "freshrec"


def stack_file_path(cache_dir: Path | None = None, stack_dir: Path | None = None) -> Path:
    """Where ``freshrec stack up`` records the endpoints it chose."""
    if stack_dir is None:
        env_stack = os.environ.get(ENV_PREFIX + "STACK_DIR")
        if env_stack:
            stack_dir = Path(env_stack)
        else:
            cache = cache_dir or Path(os.environ.get(ENV_PREFIX + "CACHE_DIR") or default_cache_dir())
            stack_dir = cache / "stack"
    return stack_dir / "stack.json"


class _StackFileSource(PydanticBaseSettingsSource):
    """Reads the endpoints written by the local stack manager, if any."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._values().get(field_name), field_name, False

    def _values(self) -> dict[str, Any]:
        path = stack_file_path()
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        keys = ("kafka_bootstrap", "redis_url")
        return {k: data[k] for k in keys if isinstance(data.get(k), str)}

    def __call__(self) -> dict[str, Any]:
        return self._values()


class Settings(BaseSettings):
    """Every tunable of Freshrec; each field is read from ``FRESHREC_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    # --- connections -------------------------------------------------------------------
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL (redis:// or rediss://)")

    # --- local stack -------------------------------------------------------------------
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Jars, virtualenvs, stack data")
    stack_dir: Path | None = Field(None, description="Stack state and data; default <cache_dir>/stack")
    stack_kafka_port: int | None = Field(None, description="Kafka port for `stack up`; default a free port")
    stack_redis_port: int | None = Field(None, description="Redis port for `stack up`; default a free port")
    stack_redis_password: SecretStr | None = Field(None, description="Redis password; default generated once")
    stack_kafka_heap: str = Field("512m", description="Java heap of the local Kafka broker")
    kafka_version: str = Field("3.9.1", description="Apache Kafka version fetched from Maven Central")

    # --- topics ------------------------------------------------------------------------
    topic_events: str = Field("freshrec.events", description="Shop events, keyed by user")
    topic_catalog: str = Field("freshrec.catalog", description="Item upserts, compacted, keyed by item")
    topic_dead_letter: str = Field("freshrec.dead-letter", description="Rejected input with its reason")
    topic_partitions: int = Field(4, ge=1, description="Partitions of the events topic")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _StackFileSource(settings_cls), file_secret_settings)

    @cached_property
    def resolved_stack_dir(self) -> Path:
        return self.stack_dir or self.cache_dir / "stack"

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict safe to print or log: passwords in URLs are masked."""
        out = self.model_dump(mode="json")
        out["redis_url"] = redact_url(self.redis_url)
        if out.get("stack_redis_password"):
            out["stack_redis_password"] = "***"
        return out


def redact_url(url: str) -> str:
    """``redis://user:secret@host`` -> ``redis://user:***@host``; secrets never reach logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0] if ":" in creds else ""
    return f"{scheme}://{user}:***@{host}"


def env_help(field: str) -> str:
    """Help text suffix for CLI options, so every flag shows the variable behind it."""
    return f"[env: {ENV_PREFIX}{field.upper()}]"
