"""`freshrec stack up` is idempotent and `down` leaves nothing behind.

Runs a second, private stack (its own state dir and free ports) so the shared one is untouched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from freshrec.stack.process import pid_alive

pytestmark = pytest.mark.integration


def _cli(env, *args, timeout=180):
    return subprocess.run([sys.executable, "-m", "freshrec", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _private_env(tmp_path, settings) -> dict:
    env = dict(os.environ)
    env.pop("FRESHREC_KAFKA_BOOTSTRAP", None)
    env.pop("FRESHREC_REDIS_URL", None)
    env["FRESHREC_STACK_DIR"] = str(tmp_path / "stack")
    env["FRESHREC_CACHE_DIR"] = str(settings.cache_dir)  # reuse the downloaded jars
    return env


def test_up_twice_then_down_leaves_no_process(tmp_path, settings):
    env = _private_env(tmp_path, settings)
    # A stale pid file naming a live process that is not ours (pid 1): never trusted, never killed.
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "redis.pid").write_text("1\n")
    try:
        first = _cli(env, "stack", "up")
        assert first.returncode == 0, first.stderr
        status1 = json.loads(_cli(env, "stack", "status", "--json").stdout)
        assert status1["kafka"] == "up" and status1["redis"] == "up"
        assert status1["kafka_bootstrap"] != settings.kafka_bootstrap
        assert status1["redis_pid"] != 1

        second = _cli(env, "stack", "up")
        assert second.returncode == 0, second.stderr
        status2 = json.loads(_cli(env, "stack", "status", "--json").stdout)
        # idempotent: the same processes, not a second pair
        assert (status2["kafka_pid"], status2["redis_pid"]) == (status1["kafka_pid"], status1["redis_pid"])

        # every other command finds the endpoints the stack chose
        conn = json.loads((tmp_path / "stack" / "stack.json").read_text())
        assert conn["kafka_bootstrap"] == status1["kafka_bootstrap"]
    finally:
        down = _cli(env, "stack", "down")
    assert down.returncode == 0, down.stderr
    assert not pid_alive(status1["kafka_pid"])
    assert not pid_alive(status1["redis_pid"])
    assert pid_alive(1)
    status3 = _cli(env, "stack", "status", "--json")
    assert json.loads(status3.stdout)["kafka"] == "down"
