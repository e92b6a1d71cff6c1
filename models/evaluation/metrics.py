"""Top-k metrics over the 1-based rank of each case's target (0 = not in the list).

HR@K and MRR@K are returned in percent, as the papers print them; NDCG@K and coverage as fractions.
Keeping ranks rather than hits lets one run give HR@1..K for the comparison plot.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def rank_of(target: str, recommended: Sequence[str]) -> int:
    """1-based position of ``target`` in ``recommended``, 0 when absent."""
    try:
        return recommended.index(target) + 1
    except ValueError:
        return 0


def _hits(ranks: np.ndarray, k: int) -> np.ndarray:
    ranks = np.asarray(ranks)
    return (ranks >= 1) & (ranks <= k)


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """Percent of cases whose target is in the top ``k`` (SR-GNN's "P@K")."""
    ranks = np.asarray(ranks)
    return 100.0 * float(_hits(ranks, k).mean()) if len(ranks) else 0.0


def mrr(ranks: np.ndarray, k: int) -> float:
    """Mean reciprocal rank in percent, a rank beyond ``k`` counting 0."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if not len(ranks):
        return 0.0
    hit = _hits(ranks, k)
    return 100.0 * float(np.where(hit, 1.0 / np.where(hit, ranks, 1.0), 0.0).mean())


def ndcg(ranks: np.ndarray, k: int) -> float:
    """NDCG@k with one relevant item per case: 1 / log2(rank + 1) when in the top ``k``, as a fraction."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if not len(ranks):
        return 0.0
    hit = _hits(ranks, k)
    return float(np.where(hit, 1.0 / np.log2(np.where(hit, ranks, 1.0) + 1.0), 0.0).mean())


def hit_rate_curve(ranks: np.ndarray, k: int) -> list[float]:
    """HR@1 .. HR@k in percent."""
    return [hit_rate(ranks, j) for j in range(1, k + 1)]


class Coverage:
    """Share of the catalogue that appears in at least one top-k list."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def update(self, items: Iterable[str]) -> None:
        self.seen.update(items)

    def share(self, n_items: int) -> float:
        return len(self.seen) / n_items if n_items else 0.0
