"""Online collaborative filtering: River's BiasedMF on implicit feedback, read in bulk.

Every interaction is a positive (``y = 1``) and one item drawn from a ring of recently interacted
items is a negative (``y = 0``): popular items get sampled as negatives in proportion to their
popularity, so the factors learn taste rather than popularity (which the ranker has as a feature).
Scoring a window reads the learned latents directly (one gather and a row-wise dot product)
instead of calling ``predict_one`` per candidate.

Memory is bounded: River keeps a bias and a latent vector per id forever, and a shop's stream brings
new visitors without end. The ``max_users`` least recently learned users and the ``max_items`` least
recently learned items are kept (LRU, touched on every update); an evicted id scores 0 like a new
one, which is what an idle visitor's stale factors were worth anyway.
"""

from __future__ import annotations

import random
from collections import OrderedDict

import numpy as np
from river import optim, reco

from models.base import Estimator


class OnlineMF(Estimator):
    name = "mf"

    def __init__(self, n_factors: int = 8, learning_rate: float = 0.05, l2: float = 0.001, negatives: int = 1,
                 ring: int = 4096, sample: float = 1.0, max_users: int = 100_000, max_items: int = 200_000,
                 seed: int = 0):
        self.n_factors = n_factors
        self.sample = sample
        self.learning_rate = learning_rate
        self.l2 = l2
        self.negatives = negatives
        self.ring = ring
        self.max_users = max_users
        self.max_items = max_items
        self.seed = seed
        self.model = reco.BiasedMF(
            n_factors=n_factors, bias_optimizer=optim.SGD(learning_rate), latent_optimizer=optim.SGD(learning_rate),
            l2_bias=l2, l2_latent=l2, weight_initializer=optim.initializers.Zeros(),
            latent_initializer=optim.initializers.Normal(mu=0.0, sigma=0.1, seed=seed), seed=seed)
        self._recent: list[str] = []
        self._at = 0
        self._rng = random.Random(seed)
        # id -> None in learning order, oldest first: which factors to drop when over the bound.
        self._users: OrderedDict[str, None] = OrderedDict()
        self._items: OrderedDict[str, None] = OrderedDict()

    def learn_one(self, user: str, item: str) -> None:
        # BiasedMF costs ~45 us per update in Python: ``sample`` < 1 trades signal for throughput.
        if self.sample < 1.0 and self._rng.random() >= self.sample:
            return
        self.model.learn_one(user, item, 1.0)
        self._touch(user, item)
        recent = self._recent
        for _ in range(self.negatives if recent else 0):
            neg = recent[self._rng.randrange(len(recent))]
            if neg != item:
                self.model.learn_one(user, neg, 0.0)
                self._touch(user, neg)
        if len(recent) < self.ring:
            recent.append(item)
        else:
            recent[self._at] = item
            self._at = (self._at + 1) % self.ring

    def _touch(self, user: str, item: str) -> None:
        m = self.model
        _use(self._users, user, self.max_users, m.u_latents, m.u_biases)
        _use(self._items, item, self.max_items, m.i_latents, m.i_biases)

    def affinity_many(self, users: list[str], items: list[str]) -> np.ndarray:
        """``u . i + b_i`` per (user, item) row; 0 where either side was never learned."""
        m = self.model
        u_lat, i_lat, i_b = m.u_latents, m.i_latents, m.i_biases
        zero = np.zeros(self.n_factors)
        # Read the defaultdicts with .get: indexing would insert every unseen id.
        u_rows = {u: u_lat.get(u) for u in set(users)}
        U = np.stack([zero if (v := u_rows[u]) is None else _vec(v, self.n_factors) for u in users]) \
            if users else np.zeros((0, self.n_factors))
        I = np.stack([zero if (v := i_lat.get(i)) is None else _vec(v, self.n_factors) for i in items]) \
            if items else np.zeros((0, self.n_factors))
        b = np.fromiter((i_b.get(i, 0.0) for i in items), dtype=float, count=len(items))
        return (U * I).sum(axis=1) + b

    def state_dict(self) -> dict:
        return {"model": self.model, "recent": list(self._recent), "at": self._at, "rng": self._rng.getstate(),
                "users": list(self._users), "items": list(self._items)}

    def load_state_dict(self, state: dict) -> None:
        self.model = state["model"]
        self._recent, self._at = list(state["recent"]), state["at"]
        self._rng.setstate(state["rng"])
        m = self.model
        # Checkpoints from before the bound have no LRU order: rebuild it from the learned ids.
        self._users = OrderedDict.fromkeys(state.get("users", list(m.u_latents)))
        self._items = OrderedDict.fromkeys(state.get("items", list(m.i_latents)))


def _vec(v, n: int) -> np.ndarray:
    if isinstance(v, np.ndarray):
        return v
    return np.fromiter((v[j] for j in range(n)), dtype=float, count=n)


def _use(order: OrderedDict, key: str, limit: int, *tables: dict) -> None:
    """Mark ``key`` most recently used; forget the least recently used keys past ``limit``, with their
    entries in ``tables``."""
    order[key] = None
    order.move_to_end(key)
    while len(order) > limit:
        old, _ = order.popitem(last=False)
        for table in tables:
            table.pop(old, None)
