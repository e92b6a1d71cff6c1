"""kill -9 in the middle of a replay, then restart: the tables end equal to an uninterrupted run's and
Redis never goes back to an older list."""

from __future__ import annotations

import threading
import time

import pytest

from .harness import wait_until
from .replay import RecWatcher, all_reflected, item_side_difference, items_state, last_ts_by_user, \
    sessions_state, user_lists

pytestmark = [pytest.mark.integration, pytest.mark.timeout(280)]

# The restarted worker waits for the group coordinator to drop the killed member before it gets the
# partitions back: the group session timeout, 60 s by default, 10 s here (FRESHREC_WORKER_SESSION_TIMEOUT_S).
# Lost records are re-read within ~25 s (streams/seek.py); the rest takes seconds.
RESTART_S = 90
# Exact up to float rounding: forward-decayed sums added in another order.
EXACT = 1e-9
# What streams/watchdog.py logs when it resumes stuck partitions, and when it gives up on them.
RESCUED = ("have lag but consumed nothing", "still consume nothing")


def watchdog_rescues(log: str) -> list[str]:
    """The watchdog's rescue lines in a worker log, with the consumer-state lines it logged with them."""
    lines = log.splitlines()
    acted = [line for line in lines if "stall watchdog:" in line and any(r in line for r in RESCUED)]
    return acted + [line for line in lines if ": committed " in line] if acted else []


def produce(dep, events, rate: float | None = None) -> None:
    with dep.producer(linger_ms=5) as out:
        for n, ev in enumerate(events):
            out.send_event(ev)
            if rate and n % 20 == 19:
                out.flush()
                time.sleep(20 / rate)  # pacing the producer, not synchronising the test


def test_kill_9_mid_replay_then_restart_reaches_the_uninterrupted_state(deployments, reference_run):
    ref, events = reference_run
    # The stall watchdog at a sixth of its default, so that it acts within RESTART_S: a restarted worker
    # once processed nothing of a partition for 80 s (CI, 2026-12-07; most likely the queue clearing of
    # streams/seek.py keep_queues_on_repeated_resume). A stall is a failure even when the watchdog's
    # resume rescued it; the watchdog only makes it fail with the consumer state it logged, instead
    # of on a timeout with nothing to go on.
    crash = deployments(FRESHREC_WORKER_SESSION_TIMEOUT_S="10", FRESHREC_WORKER_STALL_S="20")
    crash.ensure_topics()
    worker = crash.worker(loglevel="info")  # recovery tables in the log: what a failure report needs
    worker.start()
    watcher = RecWatcher(crash.redis, crash.settings.redis_prefix)
    half = len(events) // 2
    produce(crash, events[:half])
    # The worker's start (group join, recovery) can outlast the feeder: feed once it is consuming, so
    # the kill lands while events still arrive.
    wait_until(lambda: crash.stats().get("events", 0) > 0, 120, lambda: f"the worker to consume (log: {worker.log()})")
    # The rest arrives while the worker runs; it dies (SIGKILL: no flush, no commit) part-way.
    feeder = threading.Thread(target=produce, args=(crash, events[half:], 400.0))
    feeder.start()
    wait_until(lambda: crash.stats().get("events", 0) >= half + 100, 120,
               lambda: f"the worker to be mid-replay (log: {worker.log()})")
    worker.kill()
    processed_at_kill = crash.stats().get("events", 0)
    committed_at_kill = crash.committed_offsets()  # failure reports: what the killed worker had committed
    feeder.join(60)
    assert processed_at_kill < len(events), "the kill came after the replay: nothing was interrupted"
    worker.start()

    try:
        wait_until(lambda: all_reflected(crash, events) or not worker.alive(), RESTART_S, "every event in the sessions",
                   interval=0.5)
        assert worker.alive(), "the restarted worker exited"
    except AssertionError as exc:
        worker.dump_stacks()  # into its log: where a stuck worker waits
        try:
            wait_until(lambda: "consumer state (SIGUSR2)" in worker.log(10**6), 5, "the worker's state dump")
        except AssertionError:
            pass  # an exited or wedged worker writes none: report the rest anyway
        raise AssertionError(f"{exc}; {crash.missing_report(events)}, committed at the kill {committed_at_kill}, "
                             f"alive {worker.alive()}; restarted worker's log ({worker.log_path}):\n"
                             f"{worker.log(20_000)}") from None
    rescued = watchdog_rescues(worker.log(10**7))
    assert not rescued, ("the restarted worker stalled: the watchdog had to resume its partitions "
                         f"(log {worker.log_path}):\n" + "\n".join(rescued))
    last = last_ts_by_user(events)
    wait_until(lambda: {u: r.event_ts for u, r in user_lists(crash).items()} == last, 60,
               "every user's list to answer the user's last event")
    watcher.stop()
    assert watcher.polls > 10 and watcher.regressions == []

    assert sessions_state(crash) == sessions_state(ref)
    # At-least-once: events after the last commit were delivered twice; the session dedup skipped them.
    assert crash.stats()["events"] >= len(events)
    wait_until(lambda: set(items_state(crash)) == set(items_state(ref)), 60, "the item side")
    # Exact: every event's item share is tagged with its partition and offset, and an item skips a share
    # it already holds (ItemStats.sources), so events processed again after the kill add nothing.
    half_life_ms = crash.settings.covis_half_life_s * 1000

    def difference():
        # The restarted worker may still be working through its item-updates backlog: wait for it.
        return item_side_difference(items_state(crash), items_state(ref), half_life_ms)

    try:
        wait_until(lambda: max(difference().values()) < EXACT, 60, "the item side to equal the reference run",
                   interval=1.0)
    except AssertionError as exc:
        topic = crash.settings.topic_item_updates
        raise AssertionError(f"{exc}: {difference()}; item-updates records {crash.end_offsets(topic)}, committed "
                             f"{crash.committed_offsets()}, stats {crash.stats()}, alive {worker.alive()}; log "
                             f"{worker.log_path}") from None
    print("item-side difference after kill -9:", difference())
    assert worker.alive()
    assert not watchdog_rescues(worker.log(10**7)), "\n".join(watchdog_rescues(worker.log(10**7)))
