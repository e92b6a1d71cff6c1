"""The retraining loop behind ``freshrec trainer``: out of band, warm-started, published only if not worse.

Each round reads the event log from Kafka (:mod:`models.deep.eventlog`), trains a new version seeded
from the *published* one (a rejected version never seeds the next), writes the artifact and calls
``publish``, which keeps the current version when the new validation metric is worse. A round is due
when ``min_events`` new records are in the log, or when ``interval_s`` passed and at least one arrived.
The log end each version was trained to is stored in its metrics, so a restarted trainer does not
retrain on a log it has already seen.

With a ``retuner`` (issue 19), each round first re-runs the stream model's selection on the newest
sessions of the same log (models/selection/retune.py) and publishes a tuning configuration beside the
deep artifact when it beats the running one on the validation slice; workers hot-swap it
(streams/tuning_swap.py). It runs before training, so a round stopped during training still publishes it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from contracts.artifacts import METRICS, VERSIONS, ArtifactError, TuningError, current_version
from models.deep.artifact import publish
from models.deep.eventlog import EventLog
from models.deep.recommender import DeepRecommender
from models.deep.warmstart import warm_fit
from models.selection.retune import round_due

log = logging.getLogger(__name__)


class Stopped(Exception):
    """Raised inside training when a stop was requested, so a round ends between batches."""


@dataclass
class Round:
    version: str | None
    published: bool
    reason: str
    start: str
    events: int
    sessions: int
    log_end: int
    validation: dict
    seconds: float
    tuning: dict | None = None   # the re-tune's Decision.as_dict(), when the trainer re-tunes

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Trainer:
    def __init__(self, log_reader: EventLog, store: str | Path, model_factory: Callable[[], DeepRecommender], *,
                 interval_s: float = 3600.0, min_events: int = 100_000, poll_s: float = 10.0,
                 inactivity_ms: int = 1_800_000, max_events: int | None = None, since_ms: int | None = None,
                 retuner=None, half_life_s: float | None = None):
        self.log_reader = log_reader
        self.store = Path(store)
        self.model_factory = model_factory
        self.interval_s = interval_s
        self.min_events = min_events
        self.poll_s = poll_s
        self.inactivity_ms = inactivity_ms
        self.max_events = max_events
        self.since_ms = since_ms
        self.retuner = retuner        # models.selection.retune.Retuner, or None: no re-tune
        self.half_life_s = half_life_s  # the items side's co-visitation half-life until a configuration sets one
        self.stop_event = threading.Event()
        self.trained_end = self._published_log_end()
        self.last_round = float("-inf")

    def _current_dir(self) -> Path | None:
        version = current_version(self.store)
        return None if version is None else self.store / VERSIONS / version

    def _published_log_end(self) -> int:
        path = self._current_dir()
        try:
            return int(json.loads((path / METRICS).read_text())["train"]["log_end"]) if path else 0
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def due(self, end: int, now: float) -> bool:
        return round_due(end - self.trained_end, now - self.last_round, self.min_events, self.interval_s)

    def run_once(self, on_progress: Callable[[str, int, int], None] | None = None) -> Round:
        """One round: read, warm-start train, write, publish-if-not-worse."""
        start = time.perf_counter()
        self.last_round = time.monotonic()
        logs = self.log_reader.read(inactivity_ms=self.inactivity_ms, since_ms=self.since_ms,
                                    max_events=self.max_events,
                                    on_progress=lambda d, t: on_progress and on_progress("reading log", d, t))
        self.trained_end = logs.end
        usable = sum(len(s) >= 2 for s in logs.sessions)
        if usable < 2:
            return Round(None, False, f"only {usable} sessions with 2+ items in the log; waiting for more",
                         "-", logs.events, len(logs.sessions), logs.end, {}, time.perf_counter() - start)
        # A selection cannot stop halfway (1-3 CPU minutes): a stop requested before it skips it.
        tuning = self.retune(logs) if self.retuner is not None and not self.stop_event.is_set() else None
        model = self.model_factory()

        def on_batch(done: int, total: int) -> None:
            if self.stop_event.is_set():
                raise Stopped()
            if on_progress is not None:
                on_progress("training", done, total)

        how = warm_fit(model, logs.sessions, self._current_dir(), on_batch=on_batch,
                       on_epoch=lambda r: log.info("epoch %d: loss %.4f, validation HR@20 %.2f MRR@20 %.2f",
                                                   r.epoch, r.loss, r.val_hr, r.val_mrr))
        model.train_info["log_end"] = logs.end
        model.train_info["log_events"] = logs.events
        version_dir = model.save(self.store)
        result = publish(self.store, version_dir)
        return Round(version_dir.name, result.published, result.reason, how, logs.events, len(logs.sessions),
                     logs.end, dict(model.validation), time.perf_counter() - start, tuning)

    def retune(self, logs) -> dict:
        """Re-run the stream model's selection on ``logs`` and publish if the rule says so."""
        from models.selection.retune import publish, running_config

        try:
            running = running_config(self.store)
        except (TuningError, OSError) as exc:
            log.warning("published tuning configuration unreadable (%s); comparing with the worker settings", exc)
            running = None
        try:
            decision = self.retuner.run(logs.sessions, running, created=time.time(), half_life_s=self.half_life_s,
                                        data={"events": logs.events, "log_end": logs.end,
                                              "first_ts": logs.first_ts, "last_ts": logs.last_ts})
        except ValueError as exc:   # too few sessions or validation cases: nothing to choose on yet
            log.warning("re-tune skipped: %s", exc)
            return {"published": False, "reason": f"no selection: {exc}"}
        publish(self.store, decision)
        log.info("tuning %s: %s", decision.config.version, decision.reason)
        return decision.as_dict()

    def run(self, on_round: Callable[[Round], None], max_rounds: int | None = None,
            on_progress: Callable[[str, int, int], None] | None = None) -> int:
        """Loop until :meth:`stop` (or ``max_rounds`` rounds); returns the number of rounds run."""
        rounds = 0
        while not self.stop_event.is_set() and (max_rounds is None or rounds < max_rounds):
            try:
                end = self.log_reader.end_offset()
            except LookupError as exc:
                log.warning("%s", exc)
                end = self.trained_end
            except Exception as exc:  # noqa: BLE001 - a broker hiccup must not end the loop
                log.warning("cannot read the log end (%s); retrying in %.0fs", exc, self.poll_s)
                end = self.trained_end
            if self.due(end, time.monotonic()):
                try:
                    on_round(self.run_once(on_progress))
                except Stopped:
                    log.info("stopped during training; no version written")
                    break
                except (ArtifactError, ValueError, OSError) as exc:
                    log.error("round failed, the current version stays: %s", exc)
                rounds += 1
                continue
            self.stop_event.wait(self.poll_s)
        return rounds

    def stop(self) -> None:
        self.stop_event.set()
