"""The C fixed-rate generator of ``freshrec bench lookup`` (freshrec/benchmarks/openloop.c): built once
per source version with the machine's C compiler, run as a subprocess, its JSON returned.

It measures both sides of the lookup's ratio with one schedule: Redis answering ``HGET`` at the rate and
concurrency of the run (:func:`at_redis`, the bound) and the lookup host answering the same requests
through :class:`serving.client.RecClient` (:func:`at_host`). Neither figure carries a Python generator's
scheduling jitter. Without a compiler both return ``{"openloop_error": ...}`` and the bench keeps its
Python generator's figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

from freshrec.settings import Settings

SOURCE = Path(__file__).with_name("openloop.c")


def binary(settings: Settings) -> Path:
    """The compiled generator, built on first use into ``<cache_dir>/bin`` (keyed by the source's hash)."""
    source = SOURCE.read_bytes()
    target = settings.cache_dir / "bin" / f"openloop-{hashlib.sha256(source).hexdigest()[:12]}"
    if target.exists():
        return target
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise OSError("no C compiler (cc or gcc) on PATH; install gcc or set CC")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.tmp")
    build = subprocess.run([cc, "-O2", "-o", str(partial), str(SOURCE)], capture_output=True, text=True)
    if build.returncode != 0:
        raise OSError(f"compiling {SOURCE.name} failed: {build.stderr.strip()[-500:]}")
    partial.replace(target)  # atomic: a concurrent bench sees the whole binary or none
    return target


def redis_args(url: str) -> list[str]:
    """``--host/--port/--user/--password/--db`` for a ``redis://`` URL (TCP only: the generator speaks
    plain RESP, no TLS)."""
    parts = urlsplit(url)
    if parts.scheme != "redis":
        raise ValueError(f"the C generator needs a plain redis:// URL, got {parts.scheme}://")
    args = ["--host", parts.hostname or "127.0.0.1", "--port", str(parts.port or 6379)]
    if parts.username:
        args += ["--user", unquote(parts.username)]
    if parts.password:
        args += ["--password", unquote(parts.password)]
    if parts.path.strip("/"):
        args += ["--db", parts.path.strip("/")]
    return args


def _run(settings: Settings, args: list[str], rate: float, seconds: float, conns: int, users: int,
         items: int, warm_up: int) -> dict:
    try:
        exe = binary(settings)
        out = subprocess.run([str(exe), *args, "--rate", str(rate), "--seconds", str(seconds), "--conns",
                              str(conns), "--users", str(users), "--items", str(items), "--warm-up",
                              str(warm_up)], capture_output=True, text=True, timeout=seconds * 4 + 60)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return {"openloop_error": str(exc)[:300]}
    if out.returncode != 0:
        return {"openloop_error": (out.stderr.strip() or f"exit {out.returncode}")[-300:]}
    return json.loads(out.stdout)


def at_redis(settings: Settings, prefix: str, rate: float, seconds: float, conns: int, users: int,
             items: int) -> dict:
    """Redis's own latency for the lookups' keys (one HGET each) at ``rate``, as the read-only user."""
    try:
        args = ["--resp", *redis_args(settings.reader_url), "--prefix", prefix]
    except ValueError as exc:
        return {"openloop_error": str(exc)}
    return _run(settings, args, rate, seconds, conns, users, items, warm_up=1000)


def at_host(settings: Settings, socket_path: str, rate: float, seconds: float, conns: int, users: int,
            items: int) -> dict:
    """The lookup host's answers (freshrec/benchmarks/lookup_host.py) to the same schedule."""
    return _run(settings, ["--line", "--unix", socket_path], rate, seconds, conns, users, items, warm_up=1000)
