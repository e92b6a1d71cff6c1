"""Item-kNN: items most similar to the session's last item, cosine on binary item-session vectors.

sim(i, j) = |S_i ∩ S_j| / sqrt(|S_i| |S_j|) over sessions (the data README's definition), with
optional GRU4Rec-style shrinkage ``lambda`` in the denominator. Co-occurrences come straight from the
session index (the sessions holding the last item, and their items), so learning a click costs nothing
extra and the neighbours of an item are always current.
"""

from __future__ import annotations

import numpy as np

from models.baselines.base import IndexedRecommender


class ItemKNN(IndexedRecommender):
    name = "itemknn"
    reason = "often viewed together"

    def __init__(self, n_neighbours: int = 20, shrinkage: float = 0.0, repeat_boost: float = 0.0) -> None:
        super().__init__()
        self.n_neighbours = n_neighbours
        self.shrinkage = shrinkage
        self.repeat_boost = repeat_boost
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._cache_version = -1

    def _scores(self, prefix: list[str], own_sid: int | None) -> tuple[np.ndarray, np.ndarray]:
        index = self._index
        q = index.item_id(prefix[-1])
        if q is None:
            return np.empty(0, dtype=np.int64), np.empty(0)
        if self._cache_version != index.version:
            self._cache, self._cache_version = {}, index.version
        if own_sid is None:   # a session's own row changes the counts: no caching then
            hit = self._cache.get(q)
            if hit is not None:
                return hit
        sessions = index.inv[q].view()
        if own_sid is not None:
            sessions = sessions[sessions != own_sid]
        items, _ = index.gather(sessions)
        neighbours, co = np.unique(items, return_counts=True)
        support = index.support.view()[neighbours].astype(np.float64)
        # |S_q| and |S_j| over the same sessions the counts come from (the own session left out).
        sup_q = float(len(sessions))
        if own_sid is not None:
            own = np.isin(neighbours, index.items[own_sid])
            support[own] -= 1
        lam = self.shrinkage
        sim = co / np.sqrt((sup_q + lam) * np.maximum(support + lam, 1e-12))
        keep = neighbours != q
        neighbours, sim = neighbours[keep], sim[keep]
        order = np.lexsort((neighbours, -sim))[: self.n_neighbours]
        result = neighbours[order], sim[order]
        if own_sid is None:
            self._cache[q] = result
        return result
