"""POP and S-POP: the popularity baselines that prove the protocol (data README, "Notes on the baselines")."""

from __future__ import annotations

from collections import Counter

import numpy as np

from models.base import Candidate, Session
from models.baselines.base import IndexedRecommender
from models.baselines.ranking import to_candidates


class Pop(IndexedRecommender):
    """The most clicked items overall (ties to the smaller id), the same list for every session."""

    name = "pop"
    reason = "popular"

    def __init__(self, repeat_boost: float = 0.0) -> None:
        super().__init__()
        self.repeat_boost = repeat_boost

    def _scores(self, prefix: list[str], own_sid: int | None) -> tuple[np.ndarray, np.ndarray]:
        top = np.asarray(self._popular.top, dtype=np.int64)
        return top, self._index.clicks.view()[top]


class SessionPop(IndexedRecommender):
    """S-POP: the session's own items by how often it clicked them, ties by global popularity, then
    the globally popular items. Items unknown to the model still count (after known ones on ties)."""

    name = "spop"
    reason = "in your session"

    def __init__(self) -> None:
        super().__init__()

    def recommend_one(self, session: Session, k: int) -> list[Candidate]:
        counts = Counter(session.items)
        ids_of = self._index.vocab.index
        clicks = self._index.clicks.view()
        known = [(ids_of[item], c) for item, c in counts.items() if item in ids_of]
        unknown = {item: float(c) for item, c in counts.items() if item not in ids_of}
        ids = np.asarray([i for i, _ in known], dtype=np.int64)
        # The fraction ranks equal session counts by global clicks and never reaches the next count.
        scores = np.asarray([c for _, c in known], dtype=np.float64) + clicks[ids] / (clicks.max(initial=0) + 1)
        padding = self._popular.ranked(clicks, 2 * k + len(counts))
        return to_candidates(self._index.vocab.items, ids, scores, k, reason=self.reason, source=self.name,
                             padding=padding, extra=unknown)
