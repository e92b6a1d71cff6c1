"""A/B assignment and the statistics of the report: deterministic hashing, Wilson intervals.

A user's variant is ``blake2b(salt + ":" + user) mod 10_000`` mapped onto the variants' cumulative
shares: the same user always gets the same variant on every worker and after every restart, and a
new salt reshuffles everyone (a new experiment) without any stored assignment table.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

BUCKETS = 10_000
#: What each kind of variant serves; a variant's kind is the first whose name starts its name
#: ("fusion-b" is a fusion), else ``online``.
KINDS = {
    "popular": "the trending list (no personalisation)",
    "batch": "the online ranker, but each user's list recomputed only once per period of event time",
    "fusion": "the fixed-weight fusion of the candidate sources, per event",
    "hybrid": "the online ranker with the deep model's candidates and score, per event",
    "online": "the online (River) ranker, per event, without the deep model",
}


def bucket(user: str, salt: str) -> int:
    digest = hashlib.blake2b(f"{salt}:{user}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def kind_of(variant: str) -> str:
    return next((k for k in KINDS if variant.startswith(k)), "online")


def assign(user: str, salt: str, shares: Mapping[str, float]) -> str:
    """The variant of ``user``: variants in the mapping's order, each taking its share of buckets."""
    total = sum(shares.values())
    if not shares or total <= 0:
        raise ValueError("shares: at least one variant with a positive share")
    b = bucket(user, salt) / BUCKETS * total
    acc = 0.0
    last = ""
    for name, share in shares.items():
        acc += share
        last = name
        if b < acc:
            return name
    return last


def parse_shares(spec: str) -> dict[str, float]:
    """``"online:50,fusion:50"`` (or ``"online,fusion"`` for equal shares) -> ``{variant: share}``."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, _, share = part.partition(":")
        try:
            out[name.strip()] = float(share) if share else 1.0
        except ValueError:
            raise ValueError(f"variant share {part!r}: expected NAME or NAME:NUMBER") from None
    if not out or sum(out.values()) <= 0:
        raise ValueError(f"variants {spec!r}: expected e.g. 'online:50,fusion:50'")
    return out


def wilson(successes: float, trials: float, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a rate (95 % by default); ``(0, 0)`` without trials."""
    if trials <= 0:
        return 0.0, 0.0
    p = min(max(successes / trials, 0.0), 1.0)
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_ci(total: float, total_sq: float, n: float, z: float = 1.96) -> tuple[float, float]:
    """Normal interval of a mean from its sum and sum of squares (for MRR)."""
    if n <= 1:
        return 0.0, 0.0
    mean = total / n
    var = max(total_sq / n - mean * mean, 0.0) * n / (n - 1)
    half = z * math.sqrt(var / n)
    return max(0.0, mean - half), mean + half
