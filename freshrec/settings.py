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
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
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
        keys = ("kafka_bootstrap", "redis_url", "redis_read_url", "redis_write_url")
        values: dict[str, Any] = {k: data[k] for k in keys if isinstance(data.get(k), str)}
        if isinstance(data.get("topic_replication_factor"), int):  # a stack of several Kafka nodes
            values["topic_replication_factor"] = data["topic_replication_factor"]
        return values

    def __call__(self) -> dict[str, Any]:
        return self._values()


class Settings(BaseSettings):
    """Every tunable of Freshrec; each field is read from ``FRESHREC_<FIELD>``."""

    # hide_input_in_errors: a refused URL would otherwise print its password in the validation error
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", hide_input_in_errors=True)

    # --- connections -------------------------------------------------------------------
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    redis_url: str = Field("redis://127.0.0.1:6379/0",
                           description="Redis URL: redis:// or rediss:// for one node; redis+cluster:// or "
                                       "rediss+cluster:// (any one node's host:port, database 0) for a Redis Cluster")
    redis_read_url: str | None = Field(None, description="Read-only Redis ACL user for serving; default redis_url")
    redis_write_url: str | None = Field(None, description="Writer Redis ACL user for the worker; default redis_url")
    redis_prefix: str = Field("fr:", description="Prefix of every Redis key (contracts/redis_keys.py), ends with ':'")
    kafka_security_protocol: str = Field("PLAINTEXT", pattern="^(PLAINTEXT|SSL|SASL_PLAINTEXT|SASL_SSL)$",
                                         description="Kafka security protocol (freshrec/kafka_security.py)")
    kafka_sasl_mechanism: str = Field("PLAIN", pattern="^(PLAIN|SCRAM-SHA-256|SCRAM-SHA-512)$",
                                      description="Kafka SASL mechanism, for SASL_* protocols")
    kafka_sasl_username: str | None = Field(None, description="Kafka SASL user, for SASL_* protocols")
    kafka_sasl_password: SecretStr | None = Field(None, description="Kafka SASL password (never logged)")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle for Kafka TLS; default the system CAs")

    # --- local stack -------------------------------------------------------------------
    cache_dir: Path = Field(default_factory=default_cache_dir, description="Jars, virtualenvs, stack data")
    stack_dir: Path | None = Field(None, description="Stack state and data; default <cache_dir>/stack")
    stack_kafka_port: int | None = Field(None, description="Kafka port for `stack up`; default a free port")
    stack_redis_port: int | None = Field(None, description="Redis port for `stack up`; default a free port")
    stack_redis_password: SecretStr | None = Field(None, description="Redis password; default generated once")
    stack_kafka_heap: str = Field("512m", description="Java heap of the local Kafka broker (of each, with several)")
    stack_kafka_brokers: int = Field(1, ge=1, le=5, description="Kafka nodes `stack up` starts (combined broker + "
                                     "controller, every one a voter); 3 gives replicated topics (docs/scaling.md)")
    stack_redis_cluster: bool = Field(False, description="`stack up` starts a Redis Cluster of three masters "
                                      "instead of one Redis (redis_url becomes redis+cluster://)")
    kafka_version: str = Field("3.9.1", description="Apache Kafka version fetched from Maven Central")

    # --- topics ------------------------------------------------------------------------
    topic_events: str = Field("freshrec.events", description="Shop events, keyed by user")
    topic_catalog: str = Field("freshrec.catalog", description="Item upserts, compacted, keyed by item")
    topic_dead_letter: str = Field("freshrec.dead-letter", description="Rejected input with its reason")
    topic_partitions: int = Field(4, ge=1, description="Partitions of the events topic")
    topic_replication_factor: int = Field(1, ge=1, le=16, description="Replicas of every topic Freshrec creates "
                                          "(events, catalog, worker topics, tables' changelogs); 3 on a cluster")
    topic_min_insync_replicas: int | None = Field(None, ge=1, le=16, description="min.insync.replicas of those "
                                                  "topics; default one less than the replication factor (at least 1)")
    topic_item_updates: str = Field("freshrec.item-updates",
                                    description="Repartition topic: per-window item pairs/counts, keyed by item")

    # --- evaluation --------------------------------------------------------------------
    data_dir: Path | None = Field(None, description="Folder of public datasets (../shared/data format); "
                                                    "`evaluate --dataset NAME` looks there")

    # --- producers (shop, replay, POST /events) -----------------------------------------
    producer_linger_ms: int = Field(5, ge=0, le=10_000, description="Producer batching delay, ms: how long "
                                    "an event may wait for others of its partition to share its record")
    producer_pack_max: int = Field(500, ge=1, le=10_000, description="Most events one events-topic record "
                                   "carries (a pack, contracts/packs.py); 1 = one event per record")
    producer_batch_size: int = Field(262_144, ge=1024, le=16_777_216, description="Producer batch size, bytes")
    producer_compression: str = Field("none", pattern="^(none|gzip|lz4|snappy|zstd)$",
                                      description="Producer compression (lz4/snappy/zstd need their libraries)")

    # --- stream worker (streams/) ------------------------------------------------------
    worker_app_id: str = Field("freshrec-worker", description="Faust app id = consumer group and table prefix")
    worker_role: Literal["all", "users", "items"] = Field(
        "all", description="What this worker process runs: users (events -> sessions -> lists), items "
                           "(co-visitation, neighbour lists, catalog) or all; users and items scale apart")
    worker_store: str = Field("memory://", description="Faust table store; tables recover from changelogs")
    worker_web_port: int = Field(0, ge=0, le=65535, description="Faust web port; 0 disables the web server")
    worker_metrics_port: int = Field(0, ge=0, le=65535,
                                     description="Prometheus /metrics port of the worker; 0 disables it")
    worker_recommender: str = Field("models.recommender:from_settings",
                                    description="module:factory of the Recommender the worker drives (a factory "
                                                "with a `settings` parameter gets the worker's settings)")
    worker_take_max: int = Field(500, ge=1, le=10_000, description="Events per scoring window (stream.take)")
    worker_take_ms: float = Field(20.0, gt=0, description="Longest wait to fill a scoring window, ms")
    worker_stall_s: float = Field(120.0, ge=0, description="Watchdog: a source partition with lag and no progress "
                                                           "this long is resumed, and if still stuck after as long "
                                                           "again the worker exits (code 3) for its supervisor to "
                                                           "restart it; also the bound on a pre-commit producer flush that "
                                                           "sends nothing (exit 3 too); 0 = off")
    worker_session_timeout_s: float = Field(60.0, ge=6, le=1800, description="Kafka consumer-group session "
                                            "timeout: how long a worker that died without leaving (kill -9, a "
                                            "lost host) holds its partitions before the others take them over")
    rec_k: int = Field(20, ge=1, le=200, description="Items per user / item recommendation list")
    rec_user_ttl_s: int = Field(7 * 86400, ge=0, description="TTL of rec:user lists; 0 = none")
    rec_item_ttl_s: int = Field(7 * 86400, ge=0, description="TTL of rec:item lists; 0 = none")
    trending_ttl_s: int = Field(86400, ge=0, description="TTL of rec:trending lists; 0 = none")
    session_max_events: int = Field(50, ge=1, description="Events kept per user session")
    session_inactivity_s: float = Field(1800.0, gt=0, description="Inactivity that starts a new session")
    session_max_items: int = Field(200, ge=1, description="Bound of the purchased and recently-seen sets")
    session_max_event_ids: int = Field(256, ge=1, description="Recent event ids kept per user (dedup)")
    session_idle_ttl_s: float = Field(86400.0, ge=0, description="A user's session state is deleted (changelog "
                                                                 "tombstone) after this long without events; 0 = never")
    session_expiry_interval_s: float = Field(60.0, gt=0, description="Seconds between sweeps for idle sessions")
    worker_malloc_arenas: int = Field(2, ge=0, le=64, description="glibc malloc arenas for the worker (the "
                                                                   "runtime MALLOC_ARENA_MAX); 0 = glibc's default "
                                                                   "of 8 per core")
    worker_malloc_trim_s: float = Field(60.0, ge=0, description="Seconds between malloc_trim calls handing the "
                                                                "worker's free heap pages back; 0 = never")
    worker_tracemalloc_s: float = Field(0.0, ge=0, description="Debug: log the worker's top allocation growth "
                                                                "(tracemalloc) every this many seconds; 0 = off (slow)")
    covis_window: int = Field(8, ge=1, le=50, description="Co-visitation pairs within this many positions")
    covis_half_life_s: float = Field(7 * 86400.0, gt=0, description="Half-life of co-visitation weights")
    covis_top_k: int = Field(200, ge=1, description="Neighbours kept per item after pruning")
    trending_half_life_s: float = Field(3600.0, gt=0, description="Half-life of trending popularity")
    trending_k: int = Field(50, ge=1, description="Items per trending list")
    trending_interval_s: float = Field(2.0, gt=0, description="Seconds between trending list refreshes")
    trending_rising_baseline_s: float = Field(600.0, gt=0, description="Event-time half-life of each "
                                              "category's baseline share of session votes, against which the "
                                              "rising-category test runs (models/candidates/rising.py)")
    trending_rising_ratio: float = Field(3.0, gt=1, description="The rise the rising-category test looks for: "
                                         "this many times a category's baseline share of session votes")
    trending_rising_threshold: float = Field(12.0, gt=0, description="Log-likelihood (CUSUM) at which a category "
                                             "counts as rising: higher = later and fewer false alarms")
    worker_item_take_max: int = Field(5000, ge=1, le=100_000,
                                      description="Item updates per item-side window (one table write per item)")
    worker_item_take_ms: float = Field(500.0, gt=0, description="Longest wait to fill an item-side window, ms")
    neighbors_publish_s: float = Field(5.0, gt=0,
                                       description="Seconds between publishing changed neighbour lists")
    neighbors_snapshot_s: float = Field(30.0, ge=0, le=150,
                                        description="Seconds between writes of the published lists, newest per "
                                                    "item, to the compacted neighbors topic a starting users "
                                                    "worker reads (it reads the 10-minute neighbour packs after "
                                                    "it); 0 = at every publish")

    # --- online models and A/B (models/online/) ------------------------------------------
    ab_experiment: str = Field("", pattern=r"^[A-Za-z0-9_.\-]{0,64}$",
                               description="A/B experiment name = assignment salt; empty = no experiment")
    ab_variants: str = Field("online:50,fusion:50", description="Variants and shares, e.g. 'online:50,fusion:50'; "
                             "a name's start is its kind: popular, batch, fusion, online, hybrid (models/online/ab.py)")
    ab_batch_period_s: float = Field(3600.0, gt=0, description="Event-time seconds between a 'batch' variant "
                                     "user's list refreshes")
    online_mf_sample: float = Field(0.25, ge=0, le=1, description="Share of events the BiasedMF learns from")
    online_mf_max_users: int = Field(100_000, ge=1, description="BiasedMF keeps the factors of this many most "
                                                                "recently active users (LRU)")
    online_mf_max_items: int = Field(200_000, ge=1, description="BiasedMF keeps the factors of this many most "
                                                                "recently interacted items (LRU)")
    online_checkpoint_dir: Path | None = Field(None, description="Online-model checkpoints; default "
                                                                "<cache_dir>/models/online/<worker_app_id>")
    online_checkpoint_s: float = Field(60.0, ge=0, description="Seconds between online-model checkpoints; 0 = off")
    online_cart_weight: float = Field(2.0, ge=0, description="Weight of a pick from a served list learned "
                                      "again when its item goes to the cart (the online ranker); 0 = off")
    online_order_weight: float = Field(4.0, ge=0, description="... and again when it is ordered; 0 = off")
    online_trend_slot: int = Field(2, ge=-1, le=19, description="Place (0 = first) in the online recommender's "
                                   "lists for a rising category's trending item while none is shown; -1 = off "
                                   "(the detector: models/candidates/rising.py; docs/benchmarks.md, issue 20)")

    # --- deep model (models/deep/) -----------------------------------------------------
    deep_store: Path | None = Field(None, description="Deep-model artifact store; default <cache_dir>/models/deep")
    trainer_interval_min: float = Field(60.0, gt=0, description="freshrec trainer: retrain at least this often "
                                                                 "(minutes) when new events arrived")
    trainer_min_events: int = Field(100_000, ge=1, description="freshrec trainer: retrain as soon as this many new "
                                                               "events are in the log")
    trainer_poll_s: float = Field(10.0, gt=0, description="freshrec trainer: seconds between checks of the log end")
    trainer_epochs: int = Field(4, ge=1, description="freshrec trainer: most epochs per retrain")
    trainer_max_events: int = Field(5_000_000, ge=1, description="freshrec trainer: newest events read per retrain")
    deep_poll_s: float = Field(5.0, gt=0, description="Worker: seconds between checks for a new published deep version")
    deep_weight: float = Field(1.0, ge=0, description="Worker (models.deep.hybrid): fusion weight of the deep source")
    trainer_tune: bool = Field(True, description="freshrec trainer (and evaluate --path worker): each round also re-runs "
                                                 "the stream model's selection on the log and publishes a tuning "
                                                 "configuration beside the deep artifact when it beats the running one")
    tuning_max_sessions: int = Field(100_000, ge=2, description="Newest sessions of the log a re-tune selects on")
    tuning_poll_s: float = Field(5.0, ge=0, description="Worker: seconds between checks for a newer published tuning "
                                                        "configuration; 0 = never apply one")
    eval_deep_artifact: Path | None = Field(None, description="evaluate -m hybrid: load this deep version directory "
                                                              "(trained on the same dataset) instead of training")

    # --- serving -----------------------------------------------------------------------
    serve_host: str = Field("127.0.0.1", description="Address `freshrec serve` listens on")
    serve_port: int = Field(8000, ge=0, le=65535, description="Port `freshrec serve` listens on")
    serve_timeout_ms: float = Field(50.0, gt=0, description="Redis lookup timeout before serving a fallback list")
    serve_fresh_s: float = Field(300.0, ge=0, description="A user's list younger than this is served unblended")
    serve_cache_size: int = Field(10_000, ge=1, description="Last good lists kept in process for Redis outages")

    @field_validator("redis_url", "redis_read_url", "redis_write_url")
    @classmethod
    def _known_redis_url(cls, value: str | None) -> str | None:
        # a typo in the scheme (redis+clustr://) must fail here, not as a plain client's schemes error
        if value is not None:
            from freshrec.redis_url import node_url

            node_url(value)
        return value

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

    @property
    def worker_group(self) -> str:
        """The Faust app id (= consumer group) of this worker's role: processes of one role share the
        work of their topics; tables and their changelogs keep the names of ``worker_app_id``."""
        return self.worker_app_id if self.worker_role == "all" else f"{self.worker_app_id}-{self.worker_role}"

    @property
    def resolved_min_insync_replicas(self) -> int:
        return self.topic_min_insync_replicas or max(1, self.topic_replication_factor - 1)

    def topic_configs(self) -> dict[str, str]:
        """Configs every created topic gets beside its own (empty with one replica: the broker's default)."""
        if self.topic_replication_factor == 1:
            return {}
        return {"min.insync.replicas": str(self.resolved_min_insync_replicas)}

    def runs(self, side: str) -> bool:
        """Whether this worker runs ``side`` ("users" or "items")."""
        return self.worker_role in ("all", side)

    @property
    def resolved_online_checkpoint_dir(self) -> Path:
        return self.online_checkpoint_dir or self.cache_dir / "models" / "online" / self.worker_app_id

    @property
    def resolved_deep_store(self) -> Path:
        return self.deep_store or self.cache_dir / "models" / "deep"

    @property
    def reader_url(self) -> str:
        """Redis URL for serving: the read-only user when it belongs to the same Redis as ``redis_url``."""
        return _same_server(self.redis_read_url, self.redis_url)

    @property
    def writer_url(self) -> str:
        """Redis URL for the worker: the writer user when it belongs to the same Redis as ``redis_url``."""
        return _same_server(self.redis_write_url, self.redis_url)

    def __repr_args__(self):
        # Stack dumps with locals (SIGUSR1), tracebacks and debuggers print the repr: never the secrets.
        redacted = self.redacted()
        for name, value in super().__repr_args__():
            yield name, (redacted.get(name, value) if isinstance(value, str) else value)

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict safe to print or log: passwords in URLs are masked."""
        out = self.model_dump(mode="json")
        out["redis_url"] = redact_url(self.redis_url)
        for key in ("redis_read_url", "redis_write_url"):
            if out.get(key):
                out[key] = redact_url(out[key])
        for key in ("stack_redis_password", "kafka_sasl_password"):
            if out.get(key):
                out[key] = "***"
        return out


def redact_url(url: str) -> str:
    """``redis://user:secret@host`` -> ``redis://user:***@host``; secrets never reach logs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0] if ":" in creds else ""
    return f"{scheme}://{user}:***@{host}"


def _same_server(user_url: str | None, main_url: str) -> str:
    # The ACL users come from the stack file; when FRESHREC_REDIS_URL points elsewhere they would
    # silently address the local stack instead, so they only count on the same host and port.
    if not user_url:
        return main_url
    host = user_url.partition("://")[2].rpartition("@")[2].split("/")[0]
    main_host = main_url.partition("://")[2].rpartition("@")[2].split("/")[0]
    return user_url if host == main_host else main_url


def env_help(field: str) -> str:
    """Help text suffix for CLI options, so every flag shows the variable behind it."""
    return f"[env: {ENV_PREFIX}{field.upper()}]"
