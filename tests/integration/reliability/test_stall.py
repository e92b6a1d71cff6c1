"""The stall watchdog (streams/watchdog.py) in a real worker: events partitions that are never resumed
are noticed, resumed once (warning), and when still stuck the worker exits with code 3 for its
supervisor to restart it; the restarted worker then processes every event and is never flagged."""

from __future__ import annotations

import pytest

from contracts.events import Event
from streams.watchdog import STALL_EXIT_CODE

from .harness import wait_until, worker_env
from .replay import T0

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_a_worker_that_never_fetches_its_events_exits_and_its_restart_catches_up(deployments):
    # The exited member holds its partitions until the group's session timeout: 10 s, not the default 60.
    dep = deployments(FRESHREC_WORKER_STALL_S="3", FRESHREC_WORKER_SESSION_TIMEOUT_S="10",
                      FRESHREC_WORKER_RECOMMENDER="tests.integration.reliability.stalling:from_settings")
    dep.ensure_topics()
    with dep.producer() as out:
        for n in range(20):
            out.send_event(Event(event_id=f"s{n}", ts=T0 + n * 1000, user_id=f"u{n % 5}", item_id=f"i{n % 7}",
                                 type="view"))
    worker = dep.worker()
    worker.start()
    wait_until(lambda: not worker.alive(), 150,
               lambda: f"the stalled worker to exit (log: {worker.log()})", interval=0.5)
    log = worker.log(20_000)
    assert worker.proc.returncode == STALL_EXIT_CODE, log
    assert "consumed nothing" in log and "resuming them" in log, log
    assert "still consume nothing" in log and f"test.events.{dep.unique}" in log, log
    assert dep.stats().get("events", 0) == 0  # it really was stalled: nothing processed

    dep.env["FRESHREC_WORKER_RECOMMENDER"] = "models.recommender:from_settings"  # what the supervisor starts
    healthy = dep.worker()
    healthy.start()
    wait_until(lambda: dep.stats().get("events", 0) >= 20 or not healthy.alive(), 120,
               lambda: f"the restarted worker to process the events (log: {healthy.log()})", interval=0.5)
    assert healthy.alive(), healthy.log()
    with dep.producer() as out:  # and keeps going: more events for the running worker
        for n in range(20, 30):
            out.send_event(Event(event_id=f"s{n}", ts=T0 + n * 1000, user_id="u9", item_id=f"i{n}", type="view"))
    wait_until(lambda: dep.stats().get("events", 0) >= 30, 60, lambda: f"the later events (log: {healthy.log()})",
               interval=0.5)
    assert healthy.alive() and "stall watchdog" not in healthy.log(20_000), healthy.log(20_000)
    assert dep.stats()["events"] == 30


def test_a_variable_no_setting_reads_is_refused():
    # what this file once set: Faust's own name, which the worker never reads (it passes its settings)
    with pytest.raises(ValueError, match="BROKER_SESSION_TIMEOUT"):
        worker_env({"FRESHREC_WORKER_STALL_S": "3", "BROKER_SESSION_TIMEOUT": "10"})
    assert worker_env({"FRESHREC_WORKER_SESSION_TIMEOUT_S": "10"})["FRESHREC_WORKER_SESSION_TIMEOUT_S"] == "10"
