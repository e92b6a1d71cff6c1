"""STAN: sequence- and time-aware neighbourhood (Garg et al., SIGIR 2019).

Three decays over session-kNN: a prefix item's weight falls with its distance from the end of the
session (``exp(-(n - p) / l1)``); a neighbour's similarity falls with its age (``exp(-age / l2)``, age
in sessions here, as the shared splits carry order but no time); and an item of a neighbour counts less
the further it sits from the neighbour's latest item shared with the session (``exp(-|d| / l3)``).
Similarity is cosine between the weighted prefix and the neighbour's binary distinct-item set.
"""

from __future__ import annotations

import numpy as np

from models.baselines.base import IndexedRecommender
from models.baselines.sknn import best_neighbours, prefix_positions, sharing_sessions


class STAN(IndexedRecommender):
    name = "stan"
    scoring_params = ("k", "sample_size", "l1", "l2", "l3", "repeat_boost")

    def __init__(self, k: int = 200, sample_size: int = 1000, l1: float = 2.0, l2: float | None = None,
                 l3: float = 4.0, repeat_boost: float = 0.0) -> None:
        """``l2=None`` means "the number of sessions in the index", the data README's setting."""
        super().__init__()
        self.k = k
        self.sample_size = sample_size
        self.l1 = l1
        self.l2 = l2
        self.l3 = l3
        self.repeat_boost = repeat_boost

    def _scores(self, prefix: list[str], own_sid: int | None) -> tuple[np.ndarray, np.ndarray]:
        index = self._index
        ids, pos, _ = prefix_positions(prefix, index)
        n = float(len(prefix))
        weight = np.exp((pos - n) / self.l1)
        # Unknown prefix items still have a weight in the prefix norm; rebuild the full distinct list.
        all_last: dict[str, int] = {}
        for p, item in enumerate(prefix, start=1):
            all_last[item] = p
        norm = np.sqrt(sum(np.exp((p - n) / self.l1) ** 2 for p in all_last.values()))
        sids, rows, which = sharing_sessions(index, ids, self.sample_size, own_sid)
        dot = np.bincount(rows, weights=weight[which], minlength=len(sids))
        sim = dot / (norm * np.sqrt(index.n_unique.view()[sids].astype(np.float64)))
        l2 = self.l2 if self.l2 is not None else max(index.n_sessions, 1)
        # Age relative to the newest session: the same ranking as "now - t" and no overflow.
        sim = sim * np.exp((sids - (index.n_sessions - 1)) / l2)
        nb, nb_sim = best_neighbours(sids, sim, self.k)
        items, nrows, last = index.gather(nb, with_last=True)
        shared = np.isin(items, ids)
        anchor = np.zeros(len(nb))
        np.maximum.at(anchor, nrows[shared], last[shared])
        contrib = nb_sim[nrows] * np.exp(-np.abs(last - anchor[nrows]) / self.l3)
        uniq, inverse = np.unique(items, return_inverse=True)
        return uniq, np.bincount(inverse, weights=contrib, minlength=len(uniq))
