"""First ranker: a weighted sum of per-source scores, each normalised within the session.

Scores are only comparable within one source, so each source's scores are divided by that source's
best score for the session (``max`` normalisation) unless the source is listed in ``raw``: the
repeat source's scores are already on an absolute scale (decayed counts) where "seen three times"
must outweigh "the best co-visited item", so it is used as is. The reason kept for an item is the
one of its strongest weighted contribution. A learned online ranker replaces this later behind the
same ``rank`` verb.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from models.base import Candidate, Estimator, Session

DEFAULT_WEIGHTS: dict[str, float] = {
    "covisit": 1.0, "repeat": 1.2, "complementary": 0.5, "content": 0.3, "trending": 0.01,
}


class WeightedFusion(Estimator):
    name = "fusion"

    def __init__(self, weights: Mapping[str, float] | None = None, raw: tuple[str, ...] = ("repeat",)):
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self.raw = raw

    def rank(self, session: Session, candidates: Sequence[Candidate], k: int) -> list[Candidate]:
        best: dict[str, float] = {}
        for c in candidates:
            if c.source not in self.raw and c.score > best.get(c.source, 0.0):
                best[c.source] = c.score
        total: dict[str, float] = {}
        strongest: dict[str, tuple[float, Candidate]] = {}
        weights, raw = self.weights, self.raw
        for c in candidates:
            w = weights.get(c.source, 0.0)
            if w == 0.0 or c.score <= 0.0:
                continue
            part = w * (c.score if c.source in raw else c.score / best[c.source])
            total[c.item] = total.get(c.item, 0.0) + part
            prev = strongest.get(c.item)
            if prev is None or part > prev[0]:
                strongest[c.item] = (part, c)
        order = sorted(total.items(), key=lambda kv: -kv[1])[:k]
        return [Candidate(item, score, strongest[item][1].reason, strongest[item][1].source)
                for item, score in order]

    def rank_many(self, sessions: Sequence[Session], candidates: Sequence[Sequence[Candidate]],
                  k: int) -> list[list[Candidate]]:
        return [self.rank(s, c, k) for s, c in zip(sessions, candidates)]
