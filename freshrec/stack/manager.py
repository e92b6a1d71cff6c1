"""``freshrec stack up | down | status``: the local Kafka and Redis, started idempotently.

State lives in ``<stack_dir>``: one pid file per service, the chosen ports and the Redis password
(``state.json``, reused so a restart keeps the same endpoints), and ``stack.json``, the connection
file every other command reads through :class:`freshrec.settings.Settings`.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from freshrec.settings import Settings, redact_url
from freshrec.stack import kafka, redis
from freshrec.stack.process import PidFile, StackError, free_port, pid_alive, port_is_free, stop_pid


@dataclass
class StackPaths:
    root: Path

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def connection(self) -> Path:
        return self.root / "stack.json"

    @property
    def kafka_pid(self) -> PidFile:
        return PidFile(self.root / "kafka.pid", marker=kafka.MAIN_CLASS)

    @property
    def redis_pid(self) -> PidFile:
        return PidFile(self.root / "redis.pid", marker="redis-server")


class Stack:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.paths = StackPaths(settings.resolved_stack_dir)

    # --- state ----------------------------------------------------------------------------
    def _load_state(self) -> dict:
        try:
            return json.loads(self.paths.state.read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict) -> None:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        tmp = self.paths.state.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.paths.state)

    def _choose_port(self, configured: int | None, remembered: int | None) -> int:
        if configured:
            return configured
        if remembered and port_is_free(remembered):
            return remembered
        return free_port()

    def _write_connection(self, state: dict) -> None:
        conn = {"kafka_bootstrap": state["kafka_bootstrap"], "redis_url": state["redis_url"]}
        conn.update({k: state[k] for k in ("redis_read_url", "redis_write_url") if k in state})
        tmp = self.paths.connection.with_suffix(".tmp")
        tmp.write_text(json.dumps(conn, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.paths.connection)

    # --- services ---------------------------------------------------------------------------
    def up(self) -> dict:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        state = self._load_state()
        self._up_kafka(state)
        self._up_redis(state)
        self._ensure_redis_users(state)
        self._save_state(state)
        self._write_connection(state)
        return self.status()

    def _up_kafka(self, state: dict) -> None:
        pidfile = self.paths.kafka_pid
        if pidfile.read() is not None and kafka.answers_metadata(state.get("kafka_bootstrap", "")):
            return
        pidfile.clear()
        s = self.settings
        libs = kafka.ensure_jars(s.cache_dir, s.kafka_version)
        port = self._choose_port(s.stack_kafka_port, state.get("kafka_port"))
        cport = self._choose_port(None, state.get("kafka_controller_port"))
        if cport == port:
            cport = free_port()
        data_dir = self.paths.root / "kafka-data"
        config = kafka.write_config(self.paths.root / "kafka-conf", data_dir, port, cport)
        kafka.format_storage(libs, config, data_dir)
        log_path = self.paths.root / "kafka.log"
        pid = kafka.start(libs, config, log_path, s.stack_kafka_heap)
        bootstrap = f"127.0.0.1:{port}"
        self._await_ready(pidfile, pid, lambda alive: kafka.wait_ready(bootstrap, log_path, alive=alive))
        state.update(kafka_port=port, kafka_controller_port=cport, kafka_bootstrap=bootstrap)

    @staticmethod
    def _await_ready(pidfile: PidFile, pid: int, wait: Callable[[Callable[[], bool]], None]) -> None:
        """Record ``pid``, then ``wait(alive)`` for its service; one that never answers is stopped and
        forgotten, so a failed ``up`` leaves no half-started process behind."""
        pidfile.write(pid)
        try:
            wait(lambda: pid_alive(pid))
        except StackError:
            stop_pid(pid)
            pidfile.clear()
            raise

    def _up_redis(self, state: dict) -> None:
        pidfile = self.paths.redis_pid
        if pidfile.read() is not None and redis.answers_ping(state.get("redis_url", "")):
            return
        pidfile.clear()
        s = self.settings
        binary = redis.ensure_installed()
        password = (s.stack_redis_password.get_secret_value() if s.stack_redis_password
                    else state.get("redis_password") or secrets.token_urlsafe(24))
        port = self._choose_port(s.stack_redis_port, state.get("redis_port"))
        config = redis.write_config(self.paths.root / "redis-conf", self.paths.root / "redis-data", port, password)
        log_path = self.paths.root / "redis.log"
        pid = redis.start(binary, config, log_path)
        url = f"redis://:{password}@127.0.0.1:{port}/0"
        self._await_ready(pidfile, pid, lambda alive: redis.wait_ready(url, log_path, alive=alive))
        state.update(redis_port=port, redis_password=password, redis_url=url)

    def _ensure_redis_users(self, state: dict) -> None:
        """A writer user for the worker and a read-only one for serving; passwords generated once."""
        passwords = state.setdefault("redis_user_passwords", {})
        for name in redis.ACL_RULES:
            passwords.setdefault(name, secrets.token_urlsafe(24))
        redis.ensure_users(state["redis_url"], passwords)
        state["redis_write_url"] = redis.user_url(state["redis_url"], "freshrec-writer", passwords["freshrec-writer"])
        state["redis_read_url"] = redis.user_url(state["redis_url"], "freshrec-reader", passwords["freshrec-reader"])

    def down(self) -> dict:
        """Stop only what this stack started, by the pids it recorded."""
        stopped = {}
        for name, pidfile in (("kafka", self.paths.kafka_pid), ("redis", self.paths.redis_pid)):
            pid = pidfile.read()
            if pid is not None:
                stop_pid(pid, timeout=60 if name == "kafka" else 15)
                stopped[name] = pid
            pidfile.clear()
        self.paths.connection.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict:
        state = self._load_state()
        k_pid = self.paths.kafka_pid.read()
        r_pid = self.paths.redis_pid.read()
        kafka_up = k_pid is not None and kafka.answers_metadata(state.get("kafka_bootstrap", ""))
        redis_up = r_pid is not None and redis.answers_ping(state.get("redis_url", ""))
        return {
            "kafka": "up" if kafka_up else "down",
            "kafka_bootstrap": state.get("kafka_bootstrap"),
            "kafka_pid": k_pid,
            "redis": "up" if redis_up else "down",
            "redis_url": redact_url(state["redis_url"]) if state.get("redis_url") else None,
            "redis_pid": r_pid,
            "stack_dir": str(self.paths.root),
        }


def connection_env(settings: Settings) -> dict[str, str]:
    """Environment for child processes so they reach the same services."""
    env = dict(os.environ)
    env["FRESHREC_KAFKA_BOOTSTRAP"] = settings.kafka_bootstrap
    env["FRESHREC_REDIS_URL"] = settings.redis_url
    env["FRESHREC_REDIS_READ_URL"] = settings.reader_url
    env["FRESHREC_REDIS_WRITE_URL"] = settings.writer_url
    return env
