"""The trainer loop against a real Kafka topic: a first version, then publish-only-if-not-worse."""

from __future__ import annotations

import random

import pytest

from contracts.artifacts import current_version
from contracts.events import Event
from models.deep.artifact import load_current
from models.deep.eventlog import EventLog
from models.deep.trainer import Trainer
from tests.unit.models.deep.conftest import cycle_sessions, tiny_model

pytestmark = pytest.mark.integration


def produce_sessions(settings, topic: str, sessions: list[list[str]], tag: str, t0: int) -> int:
    from producers.kafka_out import EventProducer

    producer = EventProducer.from_settings(settings, linger_ms=1)
    n = 0
    try:
        for s, items in enumerate(sessions):
            for j, item in enumerate(items):
                producer.send_event(Event(event_id=f"{tag}-{s}-{j}", ts=t0 + s * 10_000 + j, user_id=f"u{tag}{s}",
                                          type="view", item_id=item, session_id=f"s{tag}{s}"), topic=topic)
                n += 1
        producer.flush(30)
    finally:
        producer.close(10)
    return n


def noise_sessions(n: int) -> list[list[str]]:
    rng = random.Random(1)
    return [[f"i{rng.randrange(20)}" for _ in range(rng.randint(2, 6))] for _ in range(n)]


def test_trainer_publishes_first_version_then_only_when_not_worse(settings, tmp_topic, tmp_path):
    topic = tmp_topic("deep-log")
    store = tmp_path / "store"
    log = EventLog.from_settings(settings, topic)
    loop = Trainer(log, store, lambda: tiny_model(epochs=4, validation_fraction=0.2),
                   interval_s=0.0, min_events=1, poll_s=0.1, inactivity_ms=1_800_000)
    rounds = []

    n1 = produce_sessions(settings, topic, cycle_sessions(300), "a", 1_700_000_000_000)
    assert loop.run(rounds.append, max_rounds=1) == 1
    first = rounds[-1]
    assert first.published and first.events == n1 and first.start.startswith("cold start")
    assert current_version(store) == first.version
    assert first.validation["hr@20"] > 90.0

    # Nothing new in the log: no round is due.
    assert not loop.due(log.end_offset(), float("inf"))

    # New items on a deterministic log: warm start, vocabulary grows, not worse -> published.
    more = [[f"n{(k + j) % 5}" for j in range(4)] for k in range(30)] + cycle_sessions(100, seed=2)
    produce_sessions(settings, topic, more, "b", 1_700_001_000_000)
    second = loop.run_once()
    assert second.start.startswith("warm start from " + first.version), second.start
    assert "+5 items" in second.start
    assert second.published, second.reason
    assert current_version(store) == second.version
    assert len(load_current(store).vocab) == 25

    # A newest slice of random noise lowers the recorded metric (every version is measured on the tail
    # of its own log), but both versions are compared on that same slice: published only if not worse.
    produce_sessions(settings, topic, noise_sessions(400), "c", 1_700_002_000_000)
    third = loop.run_once()
    assert third.validation["mrr@20"] < second.validation["mrr@20"]
    assert f"on {third.version}'s validation slice" in third.reason, third.reason
    assert current_version(store) == (third.version if third.published else second.version)

    # A retrain that learns nothing (another architecture: a cold start, at a negligible step) is worse
    # on the same slice than the current version: written, not published.
    current = current_version(store)
    loop.model_factory = lambda: tiny_model(dim=8, epochs=1, lr=1e-6, validation_fraction=0.2)
    produce_sessions(settings, topic, cycle_sessions(200, seed=4), "d", 1_700_003_000_000)
    fourth = loop.run_once()
    assert fourth.start.startswith("cold start: architecture changed"), fourth.start
    assert fourth.version is not None and not fourth.published, fourth.reason
    assert "worse" in fourth.reason
    assert current_version(store) == current
    assert (store / "versions" / fourth.version).is_dir()


def test_trainer_command_stops_cleanly_on_sigterm(settings, tmp_topic, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    topic = tmp_topic("deep-idle")
    env = {**os.environ, "FRESHREC_TOPIC_EVENTS": topic, "FRESHREC_DEEP_STORE": str(tmp_path / "store"),
           "FRESHREC_TRAINER_POLL_S": "0.2", "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen([sys.executable, "-m", "freshrec", "trainer"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()  # the banner: the loop is about to poll
        assert "trainer: store" in line, line
        time.sleep(0.5)  # not synchronisation: lets it poll an empty log a few times before the signal
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert "trainer stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_trainer_round_re_tunes_the_stream_model_and_publishes_a_winning_configuration(settings, tmp_topic,
                                                                                          tmp_path):
    """Issue 19: the round reads the log once, re-runs the stream model's selection on its sessions with
    the running settings as the candidate to beat, and publishes beside the deep artifact."""
    from contracts.artifacts import current_tuning, read_tuning
    from models.recommender import StreamRecommender
    from models.selection import Budget
    from models.selection.retune import Retuner
    from tests.unit.models.selection.conftest import walk_sessions

    topic = tmp_topic("tune-log")
    store = tmp_path / "store"
    # Running settings that ignore repeats, on a log full of them: the search finds better ones.
    running = StreamRecommender(weights={"covisit": 1.0, "repeat": 0.0, "trending": 0.01})
    loop = Trainer(EventLog.from_settings(settings, topic), store, lambda: tiny_model(epochs=1),
                   interval_s=0.0, min_events=1, poll_s=0.1, inactivity_ms=1_800_000,
                   retuner=Retuner(running, budget=Budget(candidates=6, min_cases=60, eta=2)), half_life_s=3600.0)
    t0 = 1_700_000_000_000
    n = produce_sessions(settings, topic, walk_sessions(300, repeat_p=0.6, seed=4), "t", t0)
    first = loop.run_once()
    tuning = first.tuning
    assert tuning["published"], tuning["reason"]
    assert current_tuning(store) == tuning["version"]
    config = read_tuning(store, tuning["version"])
    assert config.scoring["weights"]["repeat"] > 0 and config.covis["half_life_s"] == 3600.0
    assert sum(config.validation["chosen"].values()) > sum(config.validation["running"].values())
    assert config.data["events"] == n and config.data["log_end"] == first.log_end
    assert config.data["first_ts"] == t0 and config.data["sessions"] == 300

    # The next round starts from the published settings (candidate 0) and publishes only a strict win.
    produce_sessions(settings, topic, walk_sessions(50, repeat_p=0.6, seed=5), "u", t0 + 10_000_000)
    second = loop.run_once().tuning
    assert second["running_version"] == tuning["version"]
    assert current_tuning(store) == (second["version"] if second["published"] else tuning["version"])
    if second["published"]:
        assert sum(second["validation"].values()) > sum(second["running_validation"].values())
