"""Debian's ``redis-server``, started on loopback with a password and its data under the cache."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from freshrec.stack.process import StackError, log_tail, spawn, wait_until


def ensure_installed() -> str:
    """Return the redis-server binary, installing Debian's package when missing (as root)."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise StackError("redis-server is not installed: run `sudo apt-get install redis-server`, "
                         "or point FRESHREC_REDIS_URL at an existing Redis")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "redis-server"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise StackError(f"`{' '.join(cmd)}` failed:\n{proc.stderr[-2000:]}")
    found = shutil.which("redis-server")
    if not found:
        raise StackError("apt-get installed redis-server but it is not on PATH")
    return found


def write_config(conf_dir: Path, data_dir: Path, port: int, password: str,
                 extra_lines: list[str] | None = None) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    conf_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "bind 127.0.0.1",
        "protected-mode yes",
        f"port {port}",
        f"dir {data_dir}",
        "daemonize no",
        # Recommendations are rebuilt from Kafka after a loss, so an AOF every second is enough.
        "appendonly yes",
        "appendfsync everysec",
        "save \"\"",
        "maxmemory-policy noeviction",
        f"requirepass {password}",
        *(extra_lines or []),
    ]
    path = conf_dir / "redis.conf"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)  # holds the password
    return path


def start(binary: str, config: Path, log_path: Path) -> int:
    return spawn([binary, str(config)], log_path).pid


def answers_ping(url: str) -> bool:
    """One node, or any node of a cluster URL (which the client needs to learn the slots)."""
    import redis

    from freshrec.redis_url import sync_client

    try:
        client = sync_client(url, socket_timeout=1, socket_connect_timeout=1)
    except redis.RedisError:  # a cluster client asks for the slots as it is built
        return False
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


#: ACL rules of the stack's users: the worker writes (no admin or dangerous commands), serving only reads.
ACL_RULES = {
    "freshrec-writer": ["~*", "&*", "+@all", "-@admin", "-@dangerous", "+info"],
    "freshrec-reader": ["~*", "resetchannels", "-@all", "+@read", "+@connection", "-@dangerous",
                        # a cluster client learns the slot map as it connects (none of these write)
                        "+cluster|slots", "+cluster|shards", "+cluster|nodes", "+cluster|info", "+readonly"],
}


def ensure_users(url: str, passwords: dict[str, str]) -> None:
    """Create or refresh the ACL users (idempotent), logged in as the default admin user at ``url``.

    Applied at runtime rather than written to redis.conf, so an already running Redis gets them too.
    """
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        for name, rules in ACL_RULES.items():
            client.execute_command("ACL", "SETUSER", name, "reset", "on", f">{passwords[name]}", *rules)
    except redis.RedisError as exc:
        raise StackError(f"cannot create the Redis ACL users: {exc}") from None
    finally:
        client.close()


def user_url(url: str, user: str, password: str) -> str:
    """``redis://:admin@host:port/0`` -> ``redis://user:password@host:port/0``."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{user}:{password}@{rest.rpartition('@')[2]}"


def wait_ready(url: str, log_path: Path, alive, timeout: float = 30.0) -> None:
    try:
        wait_until(lambda: answers_ping(url), timeout, interval=0.05, what="Redis", alive=alive)
    except StackError as exc:
        raise StackError(f"{exc}; redis log tail ({log_path}):\n{log_tail(log_path)}") from None
