"""A recommender driven the way ``freshrec worker`` drives it, for ``freshrec evaluate --path worker``.

The evaluation protocol calls ``learn_one`` and ``recommend_many`` on one object in one process; the
worker splits the same model (streams/model_adapter.py): pairs are extracted where the session
lives, counted where the item lives (:class:`~streams.covis.CovisPolicy` in ``item-stats``, with the
worker's decay and pruning settings), and the counts reach the model only as published neighbour
lists (``set_neighbors``), every ``neighbors_publish_s`` and only when :class:`PublishFilter` says a
list changed. :class:`WorkerPath` does all of that in process, with the publish clock on the events'
time, so the quality evaluated is the quality of the worker's path. A test replays one log through
the worker's agents and through this and compares the lists (tests/functional/streams).

It also replays the trainer's re-tunes (issue 19; models/deep/trainer.py): on the trainer's schedule in
event time (``FRESHREC_TRAINER_MIN_EVENTS`` new events, or ``FRESHREC_TRAINER_INTERVAL_MIN`` of event time
with at least one new event; the first round at the first event), the stream model's selection re-runs on
the newest ``FRESHREC_TUNING_MAX_SESSIONS`` sessions seen so far (the past only: every click in them was
scored before it was learned), and a configuration that beats the running one is applied as a worker
applies it (streams/tuning_swap.py): scoring and pair settings on the model, decay and pruning on the
item side. Two differences remain: the worker applies it minutes later (the trainer's selection time plus
a poll), and the trainer counts Kafka records (packs of events) where this counts events.
``FRESHREC_TRAINER_TUNE=0`` replays a worker without re-tunes. On the datasets' synthetic clock (1 s per
click, 60 s between sessions) an event-time hour is ~60 sessions, so raise the interval for a replay whose
re-tunes should follow the event count.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from freshrec.settings import Settings
from models.base import Interaction, Session
from models.selection.retune import Retuner, apply_users, round_due
from streams.covis import CovisPolicy, ItemDeltas, ItemStats, PublishFilter
from streams.model_adapter import ModelAdapter
from streams.tuning_swap import apply_items


def driven(recommender):
    """The model the worker would drive: a selection wrapper (models/selection/selected.py) holds it as
    ``model`` and hides its sources; the worker loads the model itself (``FRESHREC_WORKER_RECOMMENDER``)."""
    inner = getattr(recommender, "model", None)
    return inner if inner is not None and hasattr(recommender, "selection") else recommender


class WorkerPath:
    def __init__(self, recommender, *, covis_window: int, policy: CovisPolicy, publish_every_ms: float, k: int):
        self.outer = recommender
        self.covis_window = covis_window
        self.recommender = driven(recommender)
        self.adapter = ModelAdapter(self.recommender, covis_window=covis_window)
        self.policy = policy
        self.publish_every_ms = publish_every_ms
        self.filter = PublishFilter(k)
        self.stats: dict[str, ItemStats] = {}
        self.dirty: set[str] = set()
        self.published_at: int | None = None
        self.retunes = ReTunes(None, 0, 0.0, 2)

    @classmethod
    def from_settings(cls, recommender, settings: Settings | None = None) -> WorkerPath:
        s = settings or Settings()
        path = cls(recommender, covis_window=s.covis_window, policy=CovisPolicy.from_settings(s),
                   publish_every_ms=s.neighbors_publish_s * 1000, k=s.rec_k)
        if s.trainer_tune:
            path.retunes = ReTunes(Retuner(path.recommender, max_sessions=s.tuning_max_sessions),
                                   s.trainer_min_events, s.trainer_interval_min * 60_000, s.tuning_max_sessions)
        return path

    @property
    def selection(self):
        """What ``--json`` reports: the wrapper's choice in ``fit`` (if any) and every re-tune."""
        return _Report(getattr(self.outer, "selection", None), self.retunes.rounds) \
            if self.retunes.rounds or getattr(self.outer, "selection", None) is not None else None

    @property
    def name(self) -> str:
        return f"{getattr(self.recommender, 'name', 'model')} (worker path)"

    def __getattr__(self, attr: str):
        # Everything the protocol reads besides learning and scoring (version, selection report, ...).
        return getattr(self.outer, attr)

    def fit(self, sessions: Sequence[Sequence[str]]) -> None:
        """For ``--warm-start``: the worker never fits (a model that needs it is fitted and hot-swapped
        by the trainer). The fitted model's own co-visitation stays until an item's first publish
        replaces its list, as a worker that loads a fitted model would do."""
        self.outer.fit(sessions)
        self.recommender = driven(self.outer)  # a selection builds a new instance
        self.adapter = ModelAdapter(self.recommender, covis_window=self.covis_window)
        if self.retunes.retuner is not None:
            self.retunes.retuner.template = self.recommender

    def learn_one(self, session: Session, interaction: Interaction) -> None:
        ts = int(interaction.ts)
        if self.published_at is None:
            self.published_at = ts
        elif ts - self.published_at >= self.publish_every_ms:
            self.publish(ts)
        deltas = ItemDeltas()
        deltas.add_view(interaction.item, ts)
        for a, b, w, kind in self.adapter.pairs(session, interaction):
            deltas.add_pair(a, b, w, ts, kind)
        for item, delta in deltas.by_item.items():
            self.policy.apply(self.stats.setdefault(item, ItemStats()), delta)
            self.dirty.add(item)
        self.adapter.learn(session, interaction)
        self.retunes.seen(session.user_id, interaction.item, ts)
        if self.retunes.due(ts):
            self.retune(ts)

    def retune(self, ts: int) -> None:
        """One trainer round's re-tune at event time ``ts``, applied at once when it is published."""
        decision = self.retunes.run(ts, self.policy.half_life_ms / 1000.0)
        if decision is not None and decision.publish:
            apply_users(self.recommender, decision.config)
            apply_items(self.policy, decision.config)

    def publish(self, now: int) -> int:
        """What the items side's publish timer does: changed lists reach the model; returns how many."""
        published = 0
        for item in self.dirty:
            nb = self.policy.neighbors(self.stats[item])
            if self.filter.worth(item, nb, now):
                self.adapter.set_neighbors(item, nb)
                published += 1
        self.dirty.clear()
        self.published_at = now
        return published

    def recommend_many(self, sessions: Sequence[Session], k: int):
        return self.recommender.recommend_many(sessions, k)


class ReTunes:
    """The trainer's re-tune schedule in event time, and the log it re-tunes on (newest sessions kept)."""

    def __init__(self, retuner: Retuner | None, min_events: int, interval_ms: float, max_sessions: int):
        self.retuner = retuner
        self.min_events, self.interval_ms = min_events, interval_ms
        self.log: OrderedDict[str, list[str]] = OrderedDict()   # session -> items, by first event
        self.started: dict[str, int] = {}   # session -> its first event's time (the window's start)
        self.max_sessions = max_sessions
        self.events = 0
        self.tuned_events, self.tuned_ts = 0, None
        self.running = None          # the applied TuningConfig
        self.rounds: list[dict] = []

    def seen(self, session: str, item: str, ts: int) -> None:
        if self.retuner is None:
            return
        self.events += 1
        items = self.log.get(session)
        if items is None:
            items = self.log[session] = []
            self.started[session] = ts
            if len(self.log) > self.max_sessions:
                del self.started[self.log.popitem(last=False)[0]]
        items.append(item)

    def due(self, ts: int) -> bool:
        """The trainer's schedule (``Trainer.due``) in event time."""
        return self.retuner is not None and round_due(
            self.events - self.tuned_events, None if self.tuned_ts is None else ts - self.tuned_ts,
            self.min_events, self.interval_ms)

    def run(self, ts: int, half_life_s: float):
        self.tuned_events, self.tuned_ts = self.events, ts
        sessions = list(self.log.values())
        if sum(len(s) >= 2 for s in sessions) < 2:
            return None   # the trainer's round waits for 2 sessions with 2+ items too
        try:
            decision = self.retuner.run(sessions, self.running, created=ts / 1000.0, half_life_s=half_life_s,
                                        data={"events": self.events, "first_ts": self.started[next(iter(self.log))],
                                              "last_ts": ts})
        except ValueError as exc:   # no validation cases yet
            self.rounds.append({"ts": ts, "events": self.events, "published": False, "reason": str(exc)})
            return None
        if decision.publish:
            self.running = decision.config
        self.rounds.append({"ts": ts, "events": self.events, **decision.as_dict()})
        return decision


class _Report:
    """``selection`` as EvalResult reads it: the wrapper's ``fit`` choice plus the re-tunes."""

    def __init__(self, selection, rounds: list[dict]):
        self.inner, self.rounds = selection, rounds

    def to_json(self) -> dict:
        out = self.inner.to_json() if self.inner is not None else {}
        out["retunes"] = self.rounds
        return out
