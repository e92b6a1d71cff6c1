"""First ranker: a weighted sum of per-source scores, each normalised within the session.

Scores are only comparable within one source, so each source's scores are divided by that source's
best score for the session (``max`` normalisation) unless the source is listed in ``raw``: the
repeat source's scores are already on an absolute scale (decayed counts) where "seen three times"
must outweigh "the best co-visited item", so it is used as is. The reason kept for an item is the
one of its strongest weighted contribution. A learned online ranker replaces this later behind the
same ``rank`` verb.

:meth:`WeightedFusion.rank_pool` is the same fusion over a whole batch held as arrays
(:mod:`models.ranking.pool`): same sums, same strongest reason, same tie order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from models.base import Candidate, Estimator, Session
from models.ranking.pool import Pool, Ranked, group_starts

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

    def rank_pool(self, pool: Pool) -> Ranked:
        """:meth:`rank` for every query of ``pool`` at once; all fused rows, best first per query."""
        query, item, score, reason, source = pool.columns()
        names = pool.source_names
        weight = np.array([self.weights.get(n, 0.0) for n in names], dtype=np.float64)
        raw = np.array([n in self.raw for n in names], dtype=bool)
        w = weight[source] if len(source) else score
        keep = (w != 0.0) & (score > 0.0)
        query, item, score, reason = query[keep], item[keep], score[keep], reason[keep]
        source, w = source[keep], w[keep]
        pos = np.arange(len(query))
        n_src = max(len(names), 1)
        qs = query * n_src + source
        best = np.zeros(pool.n_queries * n_src)
        np.maximum.at(best, qs, score)
        part = w * np.where(raw[source], score, score / np.where(best[qs] > 0, best[qs], 1.0))
        # Group rows by (query, item) in pool order: sums in the order the object path adds them.
        key = query * max(len(pool.ids), 1) + item
        order = np.lexsort((pos, key))
        starts = group_starts(key[order])
        part_o = part[order]
        total = np.add.reduceat(part_o, starts) if len(starts) else part_o
        # The strongest contribution, first one on ties (object path: ``part > prev``).
        counts = np.diff(np.r_[starts, len(order)])
        is_max = part_o == np.repeat(np.maximum.reduceat(part_o, starts) if len(starts) else part_o, counts)
        at = np.minimum.reduceat(np.where(is_max, np.arange(len(order)), len(order)), starts) if len(starts) \
            else starts
        strongest = order[at]
        first_seen = order[starts]  # rows were sorted by pos within a group
        gq = query[strongest]
        final = np.lexsort((first_seen, -total, gq))
        s_rows = strongest[final]
        return Ranked(gq[final], item[s_rows], total[final], reason[s_rows], source[s_rows])
