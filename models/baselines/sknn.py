"""Session-kNN (SKNN) and vector-multiplication session-kNN (V-SKNN), Ludewig & Jannach 2018.

Both score an item by summing, over the ``k`` past sessions most similar to the current one, the
similarity of each neighbour that contains it. Candidate neighbours are the ``sample_size`` (M) most
recent sessions sharing an item with the current session; similarity is computed on distinct-item sets.
Scoring is vectorised over the inverted lists, so a case costs a few numpy calls, not Python loops
over sessions.

Position weights: ``linear`` is the paper's linear decay ``p / n`` (the last item weighs 1; session-rec
calls it ``div``), which reproduces the data README's V-SKNN figure on Diginetica within 0.1.
session-rec's own ``linear`` (``1 - 0.1 * (n - p) if p <= 10 else 0``) is offered as ``step``, clipped
at 0: as written it zeroes the *latest* items of sessions longer than 10 clicks, goes negative, and
scores about 1 point lower here. Neighbour decays follow session-rec's ``*_score`` functions.
"""

from __future__ import annotations

import numpy as np

from models.baselines.base import IndexedRecommender
from models.baselines.index import SessionIndex

POSITION_WEIGHTS = {   # weight of a prefix item whose last click is at position p of n (1-based)
    "same": lambda p, n: np.ones_like(p),
    "linear": lambda p, n: p / n,
    "step": lambda p, n: np.maximum(0.0, 1.0 - 0.1 * (n - p)),
    "log": lambda p, n: 1.0 / np.log10(n - p + 1.7),
    "quadratic": lambda p, n: (p / n) ** 2,
}
NEIGHBOUR_DECAYS = {   # weight of a neighbour whose latest shared item is ``step`` clicks back (1 = last)
    "same": lambda step: np.ones_like(step),
    "linear": lambda step: np.maximum(0.0, 1.0 - 0.1 * step),
    "div": lambda step: 1.0 / step,
    "log": lambda step: 1.0 / np.log10(step + 1.7),
    "quadratic": lambda step: 1.0 / step ** 2,
}


def prefix_positions(prefix: list[str], index: SessionIndex) -> tuple[np.ndarray, np.ndarray, int]:
    """Known distinct prefix items, the 1-based position of each one's last click, and the distinct
    count including items the index has never seen (they dilute similarity like in the papers)."""
    last: dict[str, int] = {}
    for pos, item in enumerate(prefix, start=1):
        last[item] = pos
    ids_of = index.vocab.index
    known = [(ids_of[item], pos) for item, pos in last.items() if item in ids_of]
    ids = np.fromiter((i for i, _ in known), dtype=np.int64, count=len(known))
    pos = np.fromiter((p for _, p in known), dtype=np.float64, count=len(known))
    return ids, pos, len(last)


def sharing_sessions(index: SessionIndex, ids: np.ndarray, m: int,
                     own_sid: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``m`` most recent sessions holding any of ``ids`` (ascending session id), and for every
    (session, shared item) pair its session's row in that array and the item's row in ``ids``.

    Only the last ``m`` entries of each inverted list can reach the union's ``m`` most recent, so
    the work is bounded by ``len(ids) * m`` however popular the items are."""
    take = m + (own_sid is not None)
    tails = [index.inv[i].tail(take) for i in ids.tolist()]
    lens = np.fromiter(map(len, tails), dtype=np.int64, count=len(tails))
    if not lens.sum():
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    flat = np.concatenate(tails)
    which = np.repeat(np.arange(len(tails)), lens)
    if own_sid is not None:
        keep = flat != own_sid
        flat, which = flat[keep], which[keep]
    sids, rows = np.unique(flat, return_inverse=True)
    if len(sids) > m:
        cut = len(sids) - m
        keep = rows >= cut
        sids, rows, which = sids[cut:], rows[keep] - cut, which[keep]
    return sids, rows, which


def best_neighbours(sids: np.ndarray, sim: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` by similarity; ties go to the more recent session."""
    order = np.lexsort((-sids, -sim))[:k]
    return sids[order], sim[order]


def sum_over_neighbours(index: SessionIndex, sids: np.ndarray,
                        weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score of each item = sum of ``weights`` of the neighbour sessions holding it."""
    items, rows = index.gather(sids)
    uniq, inverse = np.unique(items, return_inverse=True)
    return uniq, np.bincount(inverse, weights=weights[rows], minlength=len(uniq))


class SKNN(IndexedRecommender):
    """Session-kNN: cosine similarity of distinct-item sets, items scored by summed neighbour similarity."""

    name = "sknn"
    scoring_params = ("k", "sample_size", "repeat_boost")

    def __init__(self, k: int = 100, sample_size: int = 1000, repeat_boost: float = 0.0) -> None:
        super().__init__()
        self.k = k
        self.sample_size = sample_size
        self.repeat_boost = repeat_boost

    def _scores(self, prefix: list[str], own_sid: int | None) -> tuple[np.ndarray, np.ndarray]:
        index = self._index
        ids, _, n_distinct = prefix_positions(prefix, index)
        sids, rows, _ = sharing_sessions(index, ids, self.sample_size, own_sid)
        overlap = np.bincount(rows, minlength=len(sids))
        sim = overlap / np.sqrt(n_distinct * index.n_unique.view()[sids].astype(np.float64))
        nb, nb_sim = best_neighbours(sids, sim, self.k)
        return sum_over_neighbours(index, nb, nb_sim)


class VSKNN(IndexedRecommender):
    """V-SKNN: recent prefix items weigh more in the similarity, neighbours matching only older prefix
    items are decayed, and rare items get an IDF bonus (``score * (1 + idf_weight * idf)``)."""

    name = "vsknn"
    scoring_params = ("k", "sample_size", "position_weight", "neighbour_decay", "idf_weight", "repeat_boost")

    def __init__(self, k: int = 500, sample_size: int = 500, position_weight: str = "linear",
                 neighbour_decay: str = "linear", idf_weight: float = 5.0, repeat_boost: float = 0.0) -> None:
        super().__init__()
        if position_weight not in POSITION_WEIGHTS:
            raise ValueError(f"position_weight must be one of {sorted(POSITION_WEIGHTS)}, got {position_weight!r}")
        if neighbour_decay not in NEIGHBOUR_DECAYS:
            raise ValueError(f"neighbour_decay must be one of {sorted(NEIGHBOUR_DECAYS)}, got {neighbour_decay!r}")
        self.k = k
        self.sample_size = sample_size
        self.position_weight = position_weight
        self.neighbour_decay = neighbour_decay
        self.idf_weight = idf_weight
        self.repeat_boost = repeat_boost

    def _scores(self, prefix: list[str], own_sid: int | None) -> tuple[np.ndarray, np.ndarray]:
        index = self._index
        ids, pos, n_distinct = prefix_positions(prefix, index)
        n = float(len(prefix))
        weight = POSITION_WEIGHTS[self.position_weight](pos, n)
        step = n - pos + 1.0
        sids, rows, which = sharing_sessions(index, ids, self.sample_size, own_sid)
        sim = np.bincount(rows, weights=weight[which], minlength=len(sids)) / n_distinct
        latest = np.full(len(sids), np.inf)
        np.minimum.at(latest, rows, step[which])
        nb, nb_sim = best_neighbours(sids, sim, self.k)
        latest = latest[np.searchsorted(sids, nb)]
        items, scores = sum_over_neighbours(index, nb, nb_sim * NEIGHBOUR_DECAYS[self.neighbour_decay](latest))
        if self.idf_weight:
            clicks = index.clicks.view()[items]
            idf = np.log(max(index.n_sessions, 1) / np.maximum(clicks, 1.0))
            scores = scores * (1.0 + self.idf_weight * idf)
        return items, scores
