"""The one way integration tests run a worker: ``freshrec worker`` subprocesses of an isolated deployment.

Every deployment has its own app id (consumer group, changelog topics), topics and Redis key prefix,
so tests run beside everyone else's on the shared stack; :func:`remove_deployment` deletes them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Passed through from the test process: where the stack is, not how a deployment is configured.
STACK_VARS = ("FRESHREC_KAFKA_BOOTSTRAP", "FRESHREC_REDIS_URL", "FRESHREC_CACHE_DIR", "FRESHREC_STACK_DIR")


def isolated_overrides(unique: str, app_prefix: str, key_prefix: str) -> dict[str, str]:
    """FRESHREC_* names of one deployment, plus fast timers so tests see results quickly."""
    return {
        "FRESHREC_WORKER_APP_ID": f"{app_prefix}-{unique}",
        "FRESHREC_TOPIC_EVENTS": f"test.events.{unique}",
        "FRESHREC_TOPIC_CATALOG": f"test.catalog.{unique}",
        "FRESHREC_TOPIC_DEAD_LETTER": f"test.dlq.{unique}",
        "FRESHREC_TOPIC_ITEM_UPDATES": f"test.item-updates.{unique}",
        "FRESHREC_REDIS_PREFIX": f"{key_prefix}{unique}:",
        "FRESHREC_TRENDING_INTERVAL_S": "0.5",
        "FRESHREC_WORKER_WEB_PORT": "0",
        "FRESHREC_NEIGHBORS_PUBLISH_S": "0.5",
        "FRESHREC_WORKER_ITEM_TAKE_MS": "50",
        # The default deep store is shared by every deployment on the machine: a tuning configuration a
        # trainer published there would change every test's lists. Tests of the swap set their own store.
        "FRESHREC_TUNING_POLL_S": "0",
    }


def unread_settings(overrides: dict[str, str]) -> list[str]:
    """The names in ``overrides`` that no setting reads (``FRESHREC_<field>`` of :class:`Settings`)."""
    from freshrec.settings import ENV_PREFIX, Settings

    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    return sorted(name for name in overrides if name not in fields)


def worker_env(overrides: dict[str, str]) -> dict[str, str]:
    """A child environment: this process's minus its FRESHREC_* (but the stack's), plus ``overrides``;
    this checkout's code first on PYTHONPATH."""
    # A misspelt or foreign name would be ignored by the worker, and the test would run with the
    # default it meant to change (test_stall.py once set BROKER_SESSION_TIMEOUT, read by nothing).
    unread = unread_settings(overrides)
    if unread:
        raise ValueError(f"no setting reads {', '.join(unread)}: name a FRESHREC_* field of freshrec/settings.py")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRESHREC_") or k in STACK_VARS}
    env.update(overrides)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class WorkerProcess:
    """``freshrec worker`` in a subprocess; ``kill()`` is a SIGKILL (no flush, no commit)."""

    def __init__(self, env: dict[str, str], log_path: Path, loglevel: str = "warning"):
        self.env = env
        self.log_path = log_path
        self.loglevel = loglevel
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "freshrec", "worker", "--loglevel", self.loglevel],
                                         cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, timeout: float = 60) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def dump_stacks(self) -> None:
        """Ask the worker to log every thread's and asyncio task's stack (mode's SIGUSR1 handler), then
        where each source partition stands (SIGUSR2, ``streams.watchdog.consumer_state``)."""
        if self.alive():
            self.proc.send_signal(signal.SIGUSR1)
            self.proc.send_signal(signal.SIGUSR2)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-tail:] if self.log_path.exists() else ""


def remove_deployment(settings, unique: str, redis_client) -> None:
    """Delete a deployment's topics (every topic named with ``unique``), keys and local table data,
    and close the test's Redis client (freshrec/deployment.py does the deleting)."""
    from freshrec.deployment import remove_deployment as remove

    remove(settings, unique, redis_client)
    redis_client.close()
