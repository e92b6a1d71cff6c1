"""The validation slice: the newest training sessions, and the cases scored on them.

One declared rule for every model: the last ``fraction`` (default 10 %) of the training sessions, which
are in time order, is held out; the model is fitted on the rest and scored on every prefix of the held-out
sessions (the papers' augmentation, the same cases the test split is built from). Taking the newest
sessions rather than a random sample keeps selection honest about drift: the settings that win are
the ones that predict the period right after the data they were fitted on, which is the period the
test split (and production) asks about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from models.base import Interaction, Recommender, Session
from models.evaluation.metrics import hit_rate, mrr, rank_of

RULE = "HR@20 + MRR@20 on the last 10% of the training sessions (time order), successive halving"
Case = tuple[list[str], str]


@dataclass
class ValidationSlice:
    """``head`` (what candidates are fitted on) and ``tail`` (what they are scored on) of ``sessions``.

    ``start`` is where the tail begins in the sessions ``fit`` was given, so a report can show that the
    slice is a suffix of the training data and nothing else."""

    head: list[Sequence[str]]
    tail: list[Sequence[str]]
    start: int
    n_sessions: int

    def cases(self, limit: int | None = None, seed: int = 0) -> list[Case]:
        """Every prefix of the tail sessions -> its next item, then a seeded subsample of ``limit``.

        The subsample is a prefix of one fixed permutation, so a larger budget scores a superset of the
        cases a smaller one scored (successive halving's rungs are nested)."""
        out: list[Case] = [(list(s[:t]), s[t]) for s in self.tail for t in range(1, len(s))]
        order = np.random.default_rng(seed).permutation(len(out))
        if limit is not None:
            order = order[:limit]
        return [out[i] for i in order.tolist()]


def validation_slice(sessions: Sequence[Sequence[str]], fraction: float = 0.1) -> ValidationSlice:
    """Cut the last ``fraction`` of ``sessions`` (at least one session) as the validation tail."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    sessions = list(sessions)
    if len(sessions) < 2:
        raise ValueError(f"selection needs at least 2 training sessions, got {len(sessions)}")
    n_val = max(1, int(len(sessions) * fraction))
    start = len(sessions) - n_val
    cut = ValidationSlice(sessions[:start], sessions[start:], start, len(sessions))
    assert_suffix(sessions, cut)
    return cut


def assert_suffix(sessions: Sequence[Sequence[str]], cut: ValidationSlice) -> None:
    """The tail must be the very last training sessions (the same objects) and the head all the others.

    Selection is only honest if nothing outside ``sessions`` (a test split) reaches the tail; checking
    identity rather than equality also catches a tail rebuilt from elsewhere with equal contents."""
    n = len(sessions)
    if cut.start + len(cut.tail) != n or len(cut.head) != cut.start:
        raise AssertionError(f"validation slice [{cut.start}:{cut.start + len(cut.tail)}] is not the suffix of "
                             f"{n} training sessions")
    for offset, s in enumerate(cut.tail):
        if s is not sessions[cut.start + offset]:
            raise AssertionError(f"validation session {cut.start + offset} is not a training session")


def score(model: Recommender, cases: Sequence[Case], k: int = 20, batch: int = 256) -> tuple[float, float]:
    """HR@k and MRR@k (percent) of a fitted ``model`` on ``cases``, scored as the test protocol scores."""
    ranks = np.zeros(len(cases), dtype=np.int32)
    for lo in range(0, len(cases), batch):
        chunk = cases[lo: lo + batch]
        sessions = [Session(user_id=f"validation-{lo + j}",
                            interactions=[Interaction(item=item, ts=pos) for pos, item in enumerate(prefix)])
                    for j, (prefix, _) in enumerate(chunk)]
        for j, (recs, (_, target)) in enumerate(zip(model.recommend_many(sessions, k), chunk)):
            ranks[lo + j] = rank_of(target, [c.item for c in recs[:k]])
    return hit_rate(ranks, k), mrr(ranks, k)
