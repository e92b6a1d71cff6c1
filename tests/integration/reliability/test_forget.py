"""``freshrec forget USER`` end to end: the session state (with its dedup ids) leaves the table and
its changelog, ``rec:user`` leaves Redis, and neither comes back, not even after a restart."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from contracts.events import Event

from .harness import REPO, wait_until
from .replay import T0, sessions_state

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def ev(n: int, user: str, item: str, type_: str = "view") -> Event:
    return Event(event_id=f"f{n}", ts=T0 + n * 1000, user_id=user, item_id=item, type=type_)


def test_forget_erases_the_users_state_and_list_for_good(deployments):
    dep = deployments()
    dep.ensure_topics()
    worker = dep.worker()
    worker.start()
    key = dep.settings.redis_prefix + "rec:user:alice"
    script = [ev(1, "alice", "a"), ev(2, "bob", "a"), ev(3, "alice", "b", "order"), ev(4, "bob", "b"),
              ev(5, "alice", "c")]
    with dep.producer() as out:
        for e in script:
            out.send_event(e)
    wait_until(lambda: dep.redis.exists(key) and len(sessions_state(dep).get("alice", ()).events or ()) == 3,
               120, f"alice's list and state (log: {worker.log()})", interval=0.3)

    run = subprocess.run([sys.executable, "-m", "freshrec", "forget", "alice", "--json"], cwd=REPO, env=dep.env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    # 1, or 0 when the worker applied the forget event before the CLI's own delete.
    assert result["user"] == "alice" and result["redis_keys_deleted"] in (0, 1)
    assert not dep.redis.exists(key)  # gone when the command returns
    wait_until(lambda: "alice" not in sessions_state(dep), 60, "the tombstone in the sessions changelog")
    wait_until(lambda: dep.stats().get("accepted", 0) == len(script) + 1, 60, "the worker to apply the forget")

    # The worker goes on (bob's next list is written) and never writes alice's old list back.
    with dep.producer() as out:
        out.send_event(ev(6, "bob", "c"))
    wait_until(lambda: (b := dep.redis.hget(dep.settings.redis_prefix + "rec:user:bob", "ts")) and
               int(b) == T0 + 6000, 60, "bob's new list")
    assert not dep.redis.exists(key)
    assert sessions_state(dep)["bob"].event_ids == ["f2", "f4", "f6"]

    # A restart recovers the tables from their changelogs: alice stays forgotten, her dedup ids too,
    # so her old event f5 replayed by a producer counts as new, in a fresh session.
    assert worker.stop() == 0
    worker.start()
    with dep.producer() as out:
        out.send_event(ev(5, "alice", "c"))
    wait_until(lambda: "alice" in sessions_state(dep), 120, lambda: f"alice's new state (log: {worker.log()})",
               interval=0.3)
    state = sessions_state(dep)["alice"]
    assert state.event_ids == ["f5"] and state.purchased == [] and [e[0] for e in state.events] == ["c"]
    assert worker.alive()


def test_forget_rejects_an_invalid_user_id_without_a_traceback(deployments):
    dep = deployments()
    run = subprocess.run([sys.executable, "-m", "freshrec", "forget", "a:b*"], cwd=REPO, env=dep.env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "user id 'a:b*' is not valid" in run.stderr and "Traceback" not in run.stderr
