"""Turning score vectors into top-k candidate lists: exact tie-breaking, repeat boost, popularity padding."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from models.base import Candidate


class PopularTop:
    """The ``size`` most clicked items, ordered by (clicks desc, id asc), kept exact under +1 updates.

    A +1 can only move one item up, so a bubble step per click keeps the list exact without re-sorting
    43k counts on every event (the stream replays a million clicks).
    """

    def __init__(self, size: int = 200) -> None:
        self.size = size
        self.top: list[int] = []
        self._pos: dict[int, int] = {}

    def rebuild(self, clicks: np.ndarray) -> None:
        order = np.lexsort((np.arange(len(clicks)), -clicks))[: self.size]
        self.top = [int(i) for i in order if clicks[i] > 0]
        self._pos = {item: p for p, item in enumerate(self.top)}

    def bump(self, item: int, clicks: np.ndarray) -> None:
        """Call after ``clicks[item]`` went up by one."""
        top, pos = self.top, self._pos
        p = pos.get(item)
        if p is None:
            if len(top) >= self.size:
                tail = top[-1]
                if (clicks[tail], -tail) >= (clicks[item], -item):
                    return
                del pos[tail]
                top[-1] = item
            else:
                top.append(item)
            p = len(top) - 1
        c = clicks[item]
        while p > 0:
            prev = top[p - 1]
            if clicks[prev] > c or (clicks[prev] == c and prev < item):
                break
            top[p] = prev
            pos[prev] = p
            p -= 1
        top[p] = item
        pos[item] = p

    def ranked(self, clicks: np.ndarray, n: int) -> list[int]:
        """At least ``n`` most popular ids (falls back to a full sort when ``n`` exceeds the kept list)."""
        if n <= len(self.top) or len(self.top) < self.size:
            return self.top
        order = np.lexsort((np.arange(len(clicks)), -clicks))[:n]
        return [int(i) for i in order if clicks[i] > 0]


def top_k(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` by score, ties to the smaller id, deterministic even across the k-th place."""
    if len(scores) > k:
        kth = np.partition(scores, len(scores) - k)[len(scores) - k]
        keep = scores >= kth
        ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]


def repeat_boost(ids: np.ndarray, scores: np.ndarray, prefix: Sequence[str], id_of: dict[str, int],
                 beta: float) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """``score / max(score) + beta * count in prefix``; prefix items the model has no id for come back
    separately as ``{item: beta * count}`` so they can still be recommended."""
    if len(scores):
        top = scores.max()
        scores = scores / top if top > 0 else scores
    counts = Counter(prefix)
    known = {id_of[item]: c for item, c in counts.items() if item in id_of}
    unknown = {item: beta * c for item, c in counts.items() if item not in id_of}
    if known:
        extra = np.fromiter(known, dtype=np.int64, count=len(known))
        boost = beta * np.fromiter(known.values(), dtype=np.float64, count=len(known))
        ids = np.concatenate([ids, extra])
        scores = np.concatenate([scores, boost])
        ids, inverse = np.unique(ids, return_inverse=True)
        scores = np.bincount(inverse, weights=scores, minlength=len(ids))
    return ids, scores, unknown


def to_candidates(names: list[str], ids: np.ndarray, scores: np.ndarray, k: int, *, reason: str,
                  source: str, padding: list[int], extra: dict[str, float] | None = None) -> list[Candidate]:
    """Top ``k`` candidates, then popular items (score 0) until there are ``k``."""
    best_ids, best_scores = top_k(ids, scores, k)
    out = [Candidate(names[i], float(s), reason, source) for i, s in zip(best_ids.tolist(), best_scores.tolist())]
    if extra:
        out.extend(Candidate(item, s, "in your session", source) for item, s in extra.items())
        out.sort(key=lambda c: -c.score)   # stable: known ids keep their tie order
        del out[k:]
    if len(out) < k:
        have = {c.item for c in out}
        for i in padding:
            if names[i] not in have:
                out.append(Candidate(names[i], 0.0, "popular", source))
                if len(out) == k:
                    break
    return out
