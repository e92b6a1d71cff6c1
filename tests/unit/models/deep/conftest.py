"""A tiny synthetic log whose next item is deterministic, and one model trained on it per test module."""

from __future__ import annotations

import random

import pytest

from models.deep.recommender import DeepRecommender

N_ITEMS = 20


def cycle_sessions(n: int, seed: int = 0) -> list[list[str]]:
    """Sessions walking the cycle i -> i+1 (mod 20) from a random start: the next item is always known."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        start, length = rng.randrange(N_ITEMS), rng.randint(2, 6)
        out.append([f"i{(start + j) % N_ITEMS}" for j in range(length)])
    return out


def tiny_model(**overrides) -> DeepRecommender:
    params = dict(dim=16, max_len=8, layers=1, heads=2, dropout=0.0, epochs=6, batch_size=32, lr=1e-2,
                  negatives=0, validation_fraction=0.1, n_popular=5, seed=0)
    params.update(overrides)
    return DeepRecommender(**params)


@pytest.fixture(scope="module")
def trained() -> DeepRecommender:
    model = tiny_model()
    model.fit(cycle_sessions(400))
    return model
