"""The live worker the benchmarks drive (``bench pipeline``, ``bench soak``): one subprocess per run.

Each run gets its own app id, topics and Redis prefix (a random run id in every name), so a run
never reads another's events or lists on the shared stack; :meth:`BenchWorker.cleanup` removes them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import typer

from freshrec.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]


def fail(msg: str) -> None:
    """Stop the benchmark with a message that says what to fix (exit 2, no traceback)."""
    typer.secho(f"error: {msg}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


class BenchWorker:
    """``freshrec worker`` in a subprocess on names unique to this run.

    ``name`` prefixes the app id and topics (its first letter the Redis prefix); ``overrides`` are
    further settings for the worker (None values are left at their defaults); its output goes to
    ``<cache_dir>/bench/<log_name>-<run id>.log``.
    """

    def __init__(self, name: str, log_name: str, overrides: dict | None = None, loglevel: str = "warning",
                 profile: Path | None = None):
        from contracts.redis_keys import Keys

        self.run_id = u = uuid.uuid4().hex[:8]
        settings = {
            "worker_app_id": f"{name}-{u}", "topic_events": f"{name}.events.{u}",
            "topic_catalog": f"{name}.catalog.{u}", "topic_dead_letter": f"{name}.dlq.{u}",
            "topic_item_updates": f"{name}.item-updates.{u}", "redis_prefix": f"{name[0]}{u}:", "worker_web_port": 0,
        }
        settings.update({k: v for k, v in (overrides or {}).items() if v is not None})
        self.settings = Settings(**settings)
        self.env = dict(os.environ)
        self.env.update({ENV_PREFIX + k.upper(): str(v) for k, v in settings.items()})
        self.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), self.env.get("PYTHONPATH", "")) if p)
        self.log_path = Path(self.settings.cache_dir) / "bench" / f"{log_name}-{u}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.keys = Keys(self.settings.redis_prefix)
        self.stats_key = self.keys.stats("worker")
        self.loglevel, self.profile = loglevel, profile
        self.proc: subprocess.Popen | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self._offsets = None  # a kafka-python consumer for end offsets, made on first use

    def start(self, roles: tuple[str, ...] = ("all",), copies: int = 1) -> None:
        """``copies`` worker processes per role (``("users", "items")``: the two sides as separate
        processes), one consumer group per role; ``proc`` is the first, the one that writes the users'
        lists. ``--profile`` profiles that one. Processes are keyed ``role``, ``role#2``, ..."""
        for n, role in enumerate(roles):
            for k in range(copies):
                key = role if k == 0 else f"{role}#{k + 1}"
                prof = ["-m", "cProfile", "-o", str(self.profile)] if self.profile and n == 0 and k == 0 else []
                env = dict(self.env, **{ENV_PREFIX + "WORKER_ROLE": role})
                path = (self.log_path.with_suffix(f".{key.replace('#', '-')}.log")
                        if len(roles) > 1 or copies > 1 else self.log_path)
                with open(path, "ab") as log:
                    cmd = [sys.executable, *prof, "-m", "freshrec", "worker", "--loglevel", self.loglevel]
                    self.procs[key] = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.proc = self.procs[roles[0]]

    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs.values())

    def cpu_s(self) -> dict[str, float]:
        """User + system CPU seconds of each role's process so far."""
        import psutil

        out: dict[str, float] = {}
        for key, p in self.procs.items():  # the copies of a role together
            role = key.split("#")[0]
            out[role] = out.get(role, 0.0) + sum(psutil.Process(p.pid).cpu_times()[:2])
        return out

    def stat(self, r, field: str) -> int:
        """One counter of the worker's stats hash in Redis (0 until it is written)."""
        return int(r.hget(self.stats_key, field) or 0)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def end_offsets(self, topics: list[str] | None = None) -> dict[str, int]:
        """Sum over partitions of the end offset of ``topics`` (default: every topic of this run)."""
        from kafka import KafkaConsumer, TopicPartition

        from freshrec.kafka_security import kafka_python_config

        if self._offsets is None:
            self._offsets = KafkaConsumer(bootstrap_servers=self.settings.kafka_bootstrap,
                                          client_id=f"bench-offsets-{self.run_id}", **kafka_python_config(self.settings))
        consumer = self._offsets
        names = topics if topics is not None else [t for t in consumer.topics() if self.run_id in t]
        tps = [TopicPartition(t, p) for t in names for p in (consumer.partitions_for_topic(t) or ())]
        out = dict.fromkeys(names, 0)
        for tp, end in consumer.end_offsets(tps).items():
            out[tp.topic] += end
        return out

    def cleanup(self, r) -> None:
        """Delete this run's topics, Redis keys and worker state folders (best effort)."""
        from freshrec.deployment import remove_deployment

        if self._offsets is not None:
            self._offsets.close()
            self._offsets = None
        remove_deployment(self.settings, self.run_id, r)
