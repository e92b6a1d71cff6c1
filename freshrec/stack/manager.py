"""``freshrec stack up | down | status``: the local Kafka and Redis, started idempotently.

State lives in ``<stack_dir>``: one pid file per service, the chosen ports and the Redis password
(``state.json``, reused so a restart keeps the same endpoints), and ``stack.json``, the connection
file every other command reads through :class:`freshrec.settings.Settings`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from freshrec.settings import Settings, redact_url
from freshrec.stack import kafka, redis, redis_cluster
from freshrec.stack.process import (PidFile, StackError, free_port, pid_alive, port_is_free, stop_pid,
                                    stop_pids)


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

    def kafka_node_pid(self, node: int) -> PidFile:
        """Node 1 of a Kafka cluster is the single broker's pid file, so ``down`` finds either."""
        return self.kafka_pid if node == 1 else PidFile(self.root / f"kafka-{node}.pid", marker=kafka.MAIN_CLASS)

    def redis_node_pid(self, index: int) -> PidFile:
        return PidFile(self.root / f"redis-cluster-{index}.pid", marker="redis-server")

    @property
    def redis_cluster(self) -> Path:
        return self.root / "redis-cluster"

    def all_pids(self) -> list[tuple[str, PidFile]]:
        kafka_nodes = [(f"kafka-{n}", self.kafka_node_pid(n)) for n in range(2, 6)]
        redis_nodes = [(f"redis-cluster-{i}", self.redis_node_pid(i)) for i in range(redis_cluster.NODES)]
        return [("kafka", self.kafka_pid), *kafka_nodes, ("redis", self.redis_pid), *redis_nodes]


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
        if len(state.get("kafka_nodes", [])) > 1:  # every command then creates replicated topics
            conn["topic_replication_factor"] = min(3, len(state["kafka_nodes"]))
        tmp = self.paths.connection.with_suffix(".tmp")
        tmp.write_text(json.dumps(conn, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.paths.connection)

    # --- services ---------------------------------------------------------------------------
    def up(self) -> dict:
        self.paths.root.mkdir(parents=True, exist_ok=True)
        state = self._load_state()
        cluster = self.settings.stack_redis_cluster
        self._refuse_other_mode(state, cluster)
        if self.settings.stack_kafka_brokers > 1:
            self._up_kafka_cluster(state, self.settings.stack_kafka_brokers)
        else:
            self._up_kafka(state)
        if cluster:
            self._up_redis_cluster(state)
        else:
            self._up_redis(state)
        self._ensure_redis_users(state)
        self._save_state(state)
        self._write_connection(state)
        return self.status()

    def _refuse_other_mode(self, state: dict, cluster: bool) -> None:
        # one stack directory holds one shape of services: switching needs a `down` first, so a stack
        # others use is never swapped for another under them
        brokers = self.settings.stack_kafka_brokers
        recorded = len(state.get("kafka_nodes", [])) or 1
        if recorded != brokers and any(self.paths.kafka_node_pid(n).read() is not None for n in range(1, 6)):
            raise StackError(f"this stack ({self.paths.root}) runs {recorded} Kafka node(s), not {brokers}: "
                             "`freshrec stack down` first, or use another FRESHREC_STACK_DIR")
        single = self.paths.redis_pid.read() is not None
        nodes = any(self.paths.redis_node_pid(i).read() is not None for i in range(redis_cluster.NODES))
        if (cluster and single) or (not cluster and nodes):
            have, want = ("a single Redis", "a cluster") if single else ("a Redis Cluster", "a single Redis")
            raise StackError(f"this stack ({self.paths.root}) runs {have}, not {want}: `freshrec stack down` "
                             "first, or use another FRESHREC_STACK_DIR")

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
        state.pop("kafka_nodes", None)  # a cluster this directory ran before

    def _up_kafka_cluster(self, state: dict, n: int) -> None:
        """``n`` combined broker+controller nodes, every one a voter, started together (a quorum needs
        a majority of them up before any answers). Nodes that are down (a test's SIGKILL) are started
        again on their ports and data directories, and rejoin; the others keep running."""
        pids = [self.paths.kafka_node_pid(i) for i in range(1, n + 1)]
        nodes = [tuple(x) for x in state.get("kafka_nodes", [])]
        running = [p.read() for p in pids]
        if (len(nodes) == n and None not in running
                and kafka.brokers_seen(state.get("kafka_bootstrap", "")) >= n):
            return
        s = self.settings
        libs = kafka.ensure_jars(s.cache_dir, s.kafka_version)
        down = [i for i in range(n) if running[i] is None]
        if len(nodes) != n or not all(port_is_free(p, reuse=True) for i in down for p in nodes[i]):
            for pid in running:  # a new layout: every node starts afresh
                if pid is not None:
                    stop_pid(pid, timeout=60)
            nodes = self._free_ports(n, 2)
            for i in range(1, n + 1):  # formatted storage names the old quorum
                shutil.rmtree(self.paths.root / f"kafka-data-{i}", ignore_errors=True)
            down = list(range(n))
            state["kafka_cluster_id"] = kafka.cluster_id()
        cluster = state.setdefault("kafka_cluster_id", kafka.cluster_id())
        started = []
        for i in down:
            data_dir = self.paths.root / f"kafka-data-{i + 1}"
            config = kafka.write_config(self.paths.root / f"kafka-conf-{i + 1}", data_dir, nodes[i][0],
                                        nodes[i][1], extra=kafka.quorum_config(i + 1, nodes))
            kafka.format_storage(libs, config, data_dir, cluster)
            pid = kafka.start(libs, config, self.paths.root / f"kafka-{i + 1}.log", s.stack_kafka_heap)
            pids[i].write(pid)
            started.append((pid, pids[i]))
        bootstrap = ",".join(f"127.0.0.1:{port}" for port, _ in nodes)
        try:
            kafka.wait_ready(bootstrap, self.paths.root / f"kafka-{down[0] + 1}.log",
                             alive=lambda: all(pid_alive(p) for p, _ in started), brokers=n)
        except StackError:
            for pid, pidfile in started:
                stop_pid(pid)
                pidfile.clear()
            raise
        state.update(kafka_nodes=[list(x) for x in nodes], kafka_bootstrap=bootstrap)

    @staticmethod
    def _free_ports(n: int, per_node: int) -> list[tuple[int, ...]]:
        taken: set[int] = set()
        out = []
        for _ in range(n):
            group = []
            while len(group) < per_node:
                port = free_port()
                if port not in taken:
                    taken.add(port)
                    group.append(port)
            out.append(tuple(group))
        return out

    def _up_redis_cluster(self, state: dict) -> None:
        n = redis_cluster.NODES
        pids = [self.paths.redis_node_pid(i) for i in range(n)]
        ports, buses = state.get("redis_cluster_ports", []), state.get("redis_cluster_bus_ports", [])
        password = state.get("redis_password")
        if (len(ports) == n and password and all(p.read() is not None for p in pids)
                and redis_cluster.healthy(ports, password)):
            return
        s = self.settings
        binary = redis.ensure_installed()
        password = (s.stack_redis_password.get_secret_value() if s.stack_redis_password
                    else password or secrets.token_urlsafe(24))
        running = [pid for pid in (p.read() for p in pids) if pid is not None]
        if len(ports) != n or len(buses) != n or not all(
                port_is_free(p, reuse=True) for i, pid in enumerate(pids) if pid.read() is None
                for p in (ports[i], buses[i])):
            for pid in running:
                stop_pid(pid, timeout=15)
            ports, buses = (list(x) for x in zip(*self._free_ports(n, 2)))
            redis_cluster.wipe(self.paths.redis_cluster)  # nodes.conf would name the old ports
            running = []
        started = []
        for i in range(n):
            if pids[i].read() is not None:
                continue
            config = redis_cluster.write_node_config(self.paths.redis_cluster, i, ports[i], buses[i], password)
            pid = redis.start(binary, config, self.paths.root / f"redis-cluster-{i}.log")
            pids[i].write(pid)
            started.append(pid)
        logs = [self.paths.root / f"redis-cluster-{i}.log" for i in range(n)]
        try:
            for i in range(n):
                redis.wait_ready(redis_cluster.node_url(ports[i], password), logs[i], alive=lambda: True)
            if all(redis_cluster.slots_assigned(p, password) == 0 for p in ports):
                redis_cluster.create(ports, password)
            redis_cluster.wait_healthy(ports, password, logs, alive=lambda: all(pid_alive(p) for p in started))
        except StackError:
            for pid in started:
                stop_pid(pid)
            for pidfile in pids:
                pidfile.clear()
            raise
        state.update(redis_cluster_ports=ports, redis_cluster_bus_ports=buses, redis_password=password,
                     redis_url=redis_cluster.cluster_url(ports, password))

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
        # ACL users are per node: a cluster does not propagate ACL SETUSER
        for url in self._redis_node_urls(state):
            redis.ensure_users(url, passwords)
        state["redis_write_url"] = redis.user_url(state["redis_url"], "freshrec-writer", passwords["freshrec-writer"])
        state["redis_read_url"] = redis.user_url(state["redis_url"], "freshrec-reader", passwords["freshrec-reader"])

    @staticmethod
    def _redis_node_urls(state: dict) -> list[str]:
        if state.get("redis_url", "").startswith("redis+cluster://"):
            return [redis_cluster.node_url(p, state["redis_password"]) for p in state["redis_cluster_ports"]]
        return [state["redis_url"]]

    def down(self) -> dict:
        """Stop only what this stack started, by the pids it recorded."""
        stopped = {name: pid for name, pid in ((n, f.read()) for n, f in self.paths.all_pids()) if pid is not None}
        stop_pids([pid for name, pid in stopped.items() if name.startswith("kafka")], timeout=60)
        stop_pids([pid for name, pid in stopped.items() if name.startswith("redis")], timeout=15)
        for _, pidfile in self.paths.all_pids():
            pidfile.clear()
        self.paths.connection.unlink(missing_ok=True)
        return stopped

    def status(self) -> dict:
        state = self._load_state()
        k_pid = self.paths.kafka_pid.read()
        r_pid = self.paths.redis_pid.read()
        kafka_up = k_pid is not None and kafka.answers_metadata(state.get("kafka_bootstrap", ""))
        cluster = state.get("redis_url", "").startswith("redis+cluster://")
        if cluster:
            node_pids = [self.paths.redis_node_pid(i).read() for i in range(redis_cluster.NODES)]
            redis_up = (None not in node_pids
                        and redis_cluster.healthy(state["redis_cluster_ports"], state["redis_password"]))
            r_pid = node_pids[0]
        else:
            redis_up = r_pid is not None and redis.answers_ping(state.get("redis_url", ""))
        extra = {}
        if state.get("kafka_nodes") and len(state["kafka_nodes"]) > 1:
            extra["kafka_brokers"] = kafka.brokers_seen(state["kafka_bootstrap"]) if kafka_up else 0
        if cluster:
            extra.update(redis_mode="cluster", redis_nodes=[f"127.0.0.1:{p}" for p in state["redis_cluster_ports"]],
                         redis_node_pids=node_pids)
        return {**extra,
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
