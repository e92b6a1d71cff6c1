"""The learned fusion ranker: River logistic regression over the window's feature matrix.

Learning is River's (``learn_one`` on sparse dicts: zero features dropped, so a row costs what it
has); scoring is numpy: the model's weights are read once per batch into a vector and the whole
window is one matrix-vector product. Positives are the item the user picked next, negatives are
sampled from the items the shop showed them (the impression) or, when the event does not say, from
the list we had pushed to them (generated but not picked).

An untrained ranker must serve the fixed fusion's list, and its first updates must not wreck it: the
weights start at ``prior`` on the fusion's position feature and the intercept at the base rate of
one positive per ``negatives`` negatives. Started at zero, the first few dozen updates push every
weight negative (the features standing in for the missing intercept), which ranks candidates with
the *fewest* signals first and starves the ranker of positives for good.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import numpy as np
from river import linear_model, optim

from models.base import Candidate, Estimator, Session
from models.online.features import COL, FEATURES, Pool, build_pool
from models.online.profiles import ItemFacts, UserProfiles
from models.ranking.fusion import DEFAULT_WEIGHTS
from models.ranking.pool import top_order

TIE_BREAK = 1e-3


class OnlineRanker(Estimator):
    name = "online"

    def __init__(self, learning_rate: float = 0.05, l2: float = 1e-5, negatives: int = 4, prior: float = 2.0,
                 seed: int = 0):
        self.learning_rate = learning_rate
        self.prior = prior
        self.l2 = l2
        self.negatives = negatives
        self.seed = seed
        self.model = linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate), l2=l2,
                                                     intercept_lr=learning_rate,
                                                     intercept_init=-math.log(max(negatives, 1)))
        self.model._weights["fusion_top"] = prior  # River has no per-feature initial weights
        self.learned = 0
        self._rng = random.Random(seed)
        self._w: np.ndarray | None = None

    # --- scoring -----------------------------------------------------------------------------
    def weight_vector(self) -> np.ndarray:
        if self._w is None:
            weights = self.model.weights
            self._w = np.array([weights.get(f, 0.0) for f in FEATURES])
        return self._w

    def score_pool(self, pool: Pool) -> np.ndarray:
        return pool.X @ self.weight_vector() + TIE_BREAK * pool.X[:, COL["fusion_top"]]

    def rank_pool(self, pool: Pool, k: int) -> list[list[int]]:
        """Row numbers of each session's ``k`` best candidates, best first."""
        scores = self.score_pool(pool)
        out = []
        for i in range(len(pool.bounds) - 1):
            lo, hi = int(pool.bounds[i]), int(pool.bounds[i + 1])
            out.append((top_order(scores[lo:hi], k) + lo).tolist())
        return out

    def rank(self, session: Session, candidates: Sequence[Candidate], k: int) -> list[Candidate]:
        """The plain ``Ranker`` verb: features from the candidates alone (no profiles or item facts)."""
        per_source: dict[str, list[list[Candidate]]] = {}
        for c in candidates:
            per_source.setdefault(c.source, [[]])[0].append(c)
        pool = build_pool([session], per_source, DEFAULT_WEIGHTS, ItemFacts(), UserProfiles())
        scores = self.score_pool(pool)
        return [Candidate(pool.items[r], float(scores[r]), pool.best[r].reason, pool.best[r].source)
                for r in self.rank_pool(pool, k)[0]]

    # --- learning ----------------------------------------------------------------------------
    def learn_one(self, X: np.ndarray, positive: int, negative_rows: Sequence[int] | None = None,
                  weight: float = 1.0) -> None:
        """Learn from one choice: row ``positive`` of ``X`` was picked, the others were not.

        ``negative_rows`` narrows the negatives to the rows the user actually saw (an impression);
        by default every other row of ``X`` may be drawn. ``weight`` scales the whole choice (the
        positive and its negatives alike, so the base rate stays one in ``negatives + 1``): a pick
        that went on to the cart or an order counts more than a click alone."""
        model = self.model
        names = FEATURES
        pool = range(len(X)) if negative_rows is None else negative_rows
        others = [r for r in pool if r != positive]
        if len(others) > self.negatives:
            others = self._rng.sample(others, self.negatives)
        for r, y in [(positive, True), *((r, False) for r in others)]:
            row = X[r]
            nz = np.flatnonzero(row)
            model.learn_one({names[j]: float(row[j]) for j in nz.tolist()}, y, w=weight)
        self.learned += 1
        self._w = None

    # --- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"model": self.model, "learned": self.learned, "rng": self._rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.model = state["model"]
        self.learned = state["learned"]
        self._rng.setstate(state["rng"])
        self._w = None
