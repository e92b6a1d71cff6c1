"""The deep model as a candidate source: its own top-K per session, swappable while the stream runs.

The worker's fusion treats ``deep`` like any other source: its probabilities (max-normalised per
session by the fusion) are its feature, and the items it proposes join the pool with the reason
below. The scorer behind it is replaced by one reference assignment (:meth:`swap`), so a window
being scored keeps the scorer it started with and the next window gets the new one.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.base import Candidate, Estimator, Session

REASON = "predicted next from your session"


class DeepSource(Estimator):
    """Candidates from a deep scorer (``OnnxScorer`` or a fitted ``DeepRecommender``); none until one is set.

    ``fit`` trains a :class:`DeepRecommender` with ``params`` (offline evaluation) or loads ``artifact``
    when given (an evaluation that reuses a long training); the worker instead swaps in published artifacts.
    """

    name = "deep"

    def __init__(self, params: dict | None = None, artifact: str | None = None):
        self.params = dict(params or {})
        self.artifact = artifact
        self.scorer = None

    @property
    def version(self) -> str:
        return getattr(self.scorer, "version", "") or ""

    def swap(self, scorer) -> None:
        self.scorer = scorer

    def fit(self, sessions: Sequence[Sequence[str]]) -> None:
        """Train on ``sessions``, or load ``artifact`` (a version trained on these same sessions)."""
        from models.deep.recommender import DeepRecommender

        if self.artifact is not None:
            from models.deep.artifact import load_artifact

            self.swap(load_artifact(self.artifact).scorer)
            return

        model = DeepRecommender(**self.params)
        model.fit(sessions)
        self.swap(model)

    def candidates(self, session: Session, k: int) -> list[Candidate]:
        return self.candidates_many([session], k)[0]

    def candidates_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        scorer = self.scorer  # one read: a swap during this call does not mix two models in a window
        if scorer is None or not sessions:
            return [[] for _ in sessions]
        rows = scorer.recommend_many(list(sessions), k)
        # Sessions with no known item get the scorer's popular fallback (score 0): trending covers those.
        return [[Candidate(c.item, c.score, REASON, self.name) for c in row if c.score > 0] for row in rows]

    # Checkpoints hold what the stream learned; the deep model lives in its artifact store.
    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass
