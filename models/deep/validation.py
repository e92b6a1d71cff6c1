"""Validation metrics of an exported scorer on a slice of sessions: what publishing compares.

Each version records HR@20 / MRR@20 on its own validation slice, the newest sessions of the log it was
trained on; two versions trained on different logs were measured on different slices, so their recorded
numbers say nothing about which is better. Publishing scores the current version *and* the candidate on
the candidate's slice (stored in its artifact) with :func:`slice_metrics`.

Cases are every ``s[:t] -> s[t]`` of each session, as in training. A target the scorer has no row for
is a miss; a prefix of items it does not know gets its popular list, as the stream would serve it. Ties
count against the model (the target ranks below every item scored the same), as in ``training.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.deep.scoring import OnnxScorer

K = 20


def pessimistic_ranks(scores: np.ndarray, target_cols: np.ndarray) -> np.ndarray:
    """1-based rank of each row's target column, every tie counted as ranked above the target."""
    target = np.take_along_axis(scores, target_cols[:, None], axis=1)
    return (scores >= target).sum(axis=1)


def _cases(sessions: Sequence[Sequence[str]]) -> list[tuple[list[str], str]]:
    return [(list(s[:t]), s[t]) for s in sessions for t in range(1, len(s))]


def slice_metrics(scorer: OnnxScorer, sessions: Sequence[Sequence[str]], k: int = K,
                  batch_size: int = 256) -> dict[str, float]:
    """``{"hr@k", "mrr@k"}`` in percent and ``"cases"`` of ``scorer`` on ``sessions``."""
    cases = _cases(sessions)
    popular_rank = {item: r for r, item in enumerate(scorer.popular[:k], 1)}
    hits = rr = 0.0
    for b in range(0, len(cases), batch_size):
        chunk = cases[b:b + batch_size]
        probs, nonempty = scorer.probs_many([p for p, _ in chunk])
        ranks = np.full(len(chunk), np.inf)
        known = np.array([t in scorer.vocab.index for _, t in chunk], dtype=bool) & nonempty
        if known.any():
            cols = np.array([scorer.vocab.index[t] for (_, t), ok in zip(chunk, known) if ok])
            ranks[known] = pessimistic_ranks(probs[known], cols)
        for row in np.flatnonzero(~nonempty):
            ranks[row] = popular_rank.get(chunk[row][1], np.inf)
        inside = ranks <= k
        hits += float(inside.sum())
        rr += float((1.0 / ranks[inside]).sum())
    n = len(cases)
    return {f"hr@{k}": 100.0 * hits / n if n else 0.0, f"mrr@{k}": 100.0 * rr / n if n else 0.0, "cases": n}
