"""The simulated users' judgement: how long-term taste and the session's intent weigh, and how taste drifts.

These constants are the shop's user model (docs/shop-model.md). They were fixed before any closed-loop
measurement and are not tuned to favour a recommender variant: a change to them is its own commit,
named in the benchmark entry that uses it.
"""

from __future__ import annotations

import math

import numpy as np

#: Share of sessions whose intent is a one-off need (a gift, a repair), drawn uniformly over the
#: main categories instead of from long-term taste.
MISSION_P = 0.35
#: Log-odds added to a click on a shown item that serves the session's intent.
INTENT_CLICK = 1.5
#: ... and to the add-to-cart chance of a viewed item that serves it.
INTENT_CART = 1.0
#: Weight of long-term category taste (log share) in a click's log-odds: below 1, so that what the
#: user shops for now outweighs what they usually like.
LONG_TERM_WEIGHT = 0.5
#: Per session, the category taste moves this far towards a fresh draw from the taste prior: after
#: about 1 / DRIFT sessions (a few weeks for an active user) a user likes other things.
DRIFT = 0.03
TASTE_CONCENTRATION = 0.12


def drift_taste(taste: np.ndarray, rng: np.random.Generator) -> None:
    """Move one user's category taste (a probability vector, in place) towards a fresh draw."""
    fresh = rng.dirichlet(np.full(len(taste), TASTE_CONCENTRATION))
    taste *= 1.0 - DRIFT
    taste += DRIFT * fresh


def draw(weights: np.ndarray, r: float) -> int:
    """Index drawn with probability proportional to ``weights``, from one uniform ``r``."""
    cum = np.cumsum(weights)
    return min(int(np.searchsorted(cum, r * cum[-1], side="right")), len(cum) - 1)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
