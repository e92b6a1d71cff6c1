"""A recommender driven the way ``freshrec worker`` drives it, for ``freshrec evaluate --path worker``.

The evaluation protocol calls ``learn_one`` and ``recommend_many`` on one object in one process; the
worker splits the same model (streams/model_adapter.py): pairs are extracted where the session
lives, counted where the item lives (:class:`~streams.covis.CovisPolicy` in ``item-stats``, with the
worker's decay and pruning settings), and the counts reach the model only as published neighbour
lists (``set_neighbors``), every ``neighbors_publish_s`` and only when :class:`PublishFilter` says a
list changed. :class:`WorkerPath` does all of that in process, with the publish clock on the events'
time, so the quality evaluated is the quality of the worker's path. A test replays one log through
the worker's agents and through this and compares the lists (tests/functional/streams).
"""

from __future__ import annotations

from collections.abc import Sequence

from freshrec.settings import Settings
from models.base import Interaction, Session
from streams.covis import CovisPolicy, ItemDeltas, ItemStats, PublishFilter
from streams.model_adapter import ModelAdapter


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

    @classmethod
    def from_settings(cls, recommender, settings: Settings | None = None) -> WorkerPath:
        s = settings or Settings()
        return cls(recommender, covis_window=s.covis_window, policy=CovisPolicy.from_settings(s),
                   publish_every_ms=s.neighbors_publish_s * 1000, k=s.rec_k)

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
