"""Generated session logs small enough for a whole selection to run in a unit test."""

from __future__ import annotations

import random


def walk_sessions(n: int, *, repeat_p: float, seed: int = 0, n_items: int = 60, prefix: str = "") -> list[list[str]]:
    """Sessions that walk a ring of items one or two steps at a time; with probability ``repeat_p`` the
    next click is instead an item already clicked in the session (the pattern a repeat boost serves)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        pos = rng.randrange(n_items)
        s = [pos]
        for _ in range(rng.randint(3, 8)):
            if len(s) > 1 and rng.random() < repeat_p:
                s.append(rng.choice(s[:-1]))
            else:
                pos = (pos + rng.choice((1, 1, 2))) % n_items
                s.append(pos)
        out.append([f"{prefix}{i}" for i in s])
    return out
