"""A local Redis Cluster: three masters of Debian's ``redis-server`` on free loopback ports.

Each node is the stack's single-Redis configuration (password, AOF, ``noeviction``) plus
``cluster-enabled yes``; the slots are assigned once by ``redis-cli --cluster create`` and each node
keeps the cluster's layout in its ``nodes.conf``, so a node restarted on the same port (a test that
kills a master, or ``stack up`` after ``down``) rejoins with its slots and data. No replicas: a master
that is away leaves its third of the keys unreadable and unwritable until it is back (the worker
retries, Kafka keeps the events; docs/scaling.md); ``cluster-require-full-coverage no`` keeps the
other two thirds served meanwhile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from freshrec.stack import redis
from freshrec.stack.process import StackError, log_tail, wait_until

NODES = 3
#: how long a silent master takes to be marked failed; short, so an outage in a test is seen quickly
NODE_TIMEOUT_MS = 2000


def node_lines(bus_port: int) -> list[str]:
    return [
        "cluster-enabled yes",
        "cluster-config-file nodes.conf",  # relative to the node's data dir
        f"cluster-node-timeout {NODE_TIMEOUT_MS}",
        f"cluster-port {bus_port}",  # explicit: the default port + 10000 may be taken
        "cluster-require-full-coverage no",
    ]


def write_node_config(root: Path, index: int, port: int, bus_port: int, password: str) -> Path:
    node_dir = root / f"node{index}"
    return redis.write_config(node_dir / "conf", node_dir / "data", port, password,
                              extra_lines=[*node_lines(bus_port), f"masterauth {password}"])


def wipe(root: Path) -> None:
    """Forget a cluster whose ports changed: its ``nodes.conf`` files name the old addresses."""
    shutil.rmtree(root, ignore_errors=True)


def node_url(port: int, password: str) -> str:
    return f"redis://:{password}@127.0.0.1:{port}/0"


def cluster_url(ports: list[int], password: str) -> str:
    return f"redis+cluster://:{password}@127.0.0.1:{ports[0]}/0"


def _info(port: int, password: str) -> dict[str, str]:
    import redis as redispy

    client = redispy.Redis.from_url(node_url(port, password), socket_timeout=1, socket_connect_timeout=1)
    try:
        raw = client.execute_command("CLUSTER", "INFO")
    except redispy.RedisError:
        return {}
    finally:
        client.close()
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def slots_assigned(port: int, password: str) -> int:
    return int(_info(port, password).get("cluster_slots_assigned", "0"))


def healthy(ports: list[int], password: str) -> bool:
    """Every node answers and sees the whole cluster: all slots assigned, all nodes known, state ok."""
    for port in ports:
        info = _info(port, password)
        if (info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != "16384"
                or info.get("cluster_known_nodes") != str(len(ports))):
            return False
    return True


def create(ports: list[int], password: str) -> None:
    """Assign the 16384 slots evenly over ``ports`` (masters only) and join the nodes."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise StackError("redis-cli is needed to create a Redis Cluster (Debian package redis-tools)")
    env = dict(os.environ, REDISCLI_AUTH=password)  # not -a: redis-cli warns about a password on argv
    cmd = [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
           "--cluster-yes"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    if proc.returncode != 0:
        raise StackError(f"`redis-cli --cluster create` failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def wait_healthy(ports: list[int], password: str, log_paths: list[Path], alive, timeout: float = 60.0) -> None:
    try:
        wait_until(lambda: healthy(ports, password), timeout, interval=0.1, what="Redis Cluster", alive=alive)
    except StackError as exc:
        tails = "\n".join(f"{p}:\n{log_tail(p, 8)}" for p in log_paths)
        raise StackError(f"{exc}; node log tails:\n{tails}") from None
