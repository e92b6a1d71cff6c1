"""Rising categories: which categories more *sessions* turn to now than their own baseline says.

:class:`~models.candidates.trending.Trending` ranks by counts decayed with a half-life of an hour (the
worker's default), which is what makes its lists stable, and also why they follow a shift in taste
(a category turning trendy for everyone) only after tens of minutes. This names such a category
within a minute or so of stream time, and rarely names one that is not (issue 20, docs/benchmarks.md).

Two choices make it both fast and quiet:

- **A session is one vote.** Counting events, one session that views ten phone cases counts ten
  times, and sessions arrive at random: per category the count is far burstier than its mean says,
  and a share test on events names whatever category one busy session happens to shop in. A vote is
  a session's *first* interaction with an item of a category (:func:`session_vote`), and only one
  the session reached by itself: an interaction that came from a shown list (it carries ``shown``)
  votes for nothing, or the trend slot's own clicks would keep a category rising.
- **A sequential test against the category's own baseline.** Each category keeps a Poisson CUSUM
  (Page's test) in vote time: its share of votes ``p`` (decayed with ``baseline_half_life_ms``) is
  the null, ``ratio * p`` the alternative. A vote for the category adds ``log ratio``; every vote for
  another category takes ``(ratio - 1) * p`` away; the sum never goes below 0. A category is rising
  while its sum is at least ``threshold``. Comparing shares, not rates, a busier hour raises no
  category; the threshold is in log-likelihood units, so it is the same for rare and common
  categories (a rare one needs fewer votes, as it should). The sum is capped at ``2 * threshold`` so a
  trend that ends is dropped within a few minutes.

Per category: one float for the sum, its vote count and the baseline's decayed count; updates are
O(1) per vote (the drift between a category's own votes is applied lazily). Nothing is named before
``warmup_votes`` votes, when the baseline shares mean little yet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from models.base import Estimator, Interaction, Session
from models.candidates.pairstore import DecayClock

MINUTE_MS = 60_000.0
VOTE_TYPES = ("view", "click", "cart", "order")


def session_vote(before: Session, interaction: Interaction, category: str | None,
                 category_of: Mapping[str, str]) -> bool:
    """Whether ``interaction`` is its session's first with an item of ``category``, reached unprompted.

    ``before`` is the session before the interaction (the worker's ``learn_one`` argument); an
    interaction that carries ``shown`` came from a recommendation list and never votes.
    """
    if category is None or interaction.type not in VOTE_TYPES or interaction.shown:
        return False
    return all(category_of.get(i.item) != category for i in before.interactions)


class RisingCategories(Estimator):
    name = "rising"

    def __init__(self, baseline_half_life_ms: float = 10 * MINUTE_MS, ratio: float = 3.0,
                 threshold: float = 12.0, prior: float = 20.0, warmup_votes: int = 500,
                 max_categories: int = 2):
        if baseline_half_life_ms <= 0 or ratio <= 1 or threshold <= 0 or prior < 0 or warmup_votes < 0:
            raise ValueError("need baseline_half_life_ms > 0, ratio > 1, threshold > 0, prior >= 0, "
                             "warmup_votes >= 0")
        self.baseline_half_life_ms = baseline_half_life_ms
        self.ratio = ratio
        self.threshold = threshold
        self.prior = prior
        self.warmup_votes = warmup_votes
        self.max_categories = max_categories
        self.clock = DecayClock(baseline_half_life_ms)
        self.baseline: dict[str, float] = {}  # decayed votes per category, in the clock's reference units
        self.baseline_total = 0.0
        # category -> [CUSUM sum, votes counter when it was last brought up to date, its share then]
        self.cusum: dict[str, list[float]] = {}
        self.votes = 0
        self._cached: tuple[int, list[tuple[str, float]]] | None = None

    # --- learning --------------------------------------------------------------------------------
    def learn_vote(self, category: str, ts: int | None = None) -> None:
        """One session's first unprompted interaction with ``category`` (see :func:`session_vote`)."""
        if self.votes >= self.warmup_votes:
            row = self._brought_up(category)
            row[0] = min(2 * self.threshold, row[0] + math.log(self.ratio))
        self.votes += 1
        factor = self.clock.advance(ts)
        if factor != 1.0:
            for key in self.baseline:
                self.baseline[key] *= factor
            self.baseline_total *= factor
        w = self.clock.weight(ts)
        self.baseline[category] = self.baseline.get(category, 0.0) + w
        self.baseline_total += w
        # The share the drift is charged at from here to the category's next vote (another's votes
        # move it little; its own are where it is recomputed).
        row = self.cusum.setdefault(category, [0.0, float(self.votes), 0.0])
        row[1], row[2] = float(self.votes), self.share(category)
        self._cached = None

    def learn_one(self, session: Session, interaction: Interaction, category: str | None,
                  category_of: Mapping[str, str]) -> None:
        """:meth:`learn_vote` if the interaction is a vote."""
        if session_vote(session, interaction, category, category_of):
            self.learn_vote(category, interaction.ts or None)

    def _brought_up(self, category: str) -> list[float]:
        """The category's row with the drift of every vote since its last update applied."""
        row = self.cusum.setdefault(category, [0.0, float(self.votes), self.share(category)])
        row[0] = self._sum_now(row)
        row[1] = float(self.votes)
        return row

    def _sum_now(self, row: list[float]) -> float:
        return max(0.0, row[0] - (self.ratio - 1.0) * row[2] * (self.votes - row[1]))

    # --- reading ---------------------------------------------------------------------------------
    def share(self, category: str) -> float:
        """The category's baseline share of votes, shrunk towards uniform by ``prior`` votes."""
        n = len(self.baseline) or 1
        votes = self.baseline_total * self.clock.to_now()  # decayed votes, in votes
        raw = self.baseline.get(category, 0.0) / self.baseline_total if self.baseline_total > 0 else 0.0
        share = (raw * votes + self.prior / n) / (votes + self.prior) if votes + self.prior > 0 else 1.0 / n
        # ratio * share must stay a share: a category that already holds most votes cannot rise 3x.
        return min(share, 0.95 / self.ratio)

    def score(self, category: str) -> float:
        """The category's CUSUM now, in units of ``threshold`` (rising at 1)."""
        row = self.cusum.get(category)
        return 0.0 if row is None else self._sum_now(row) / self.threshold

    def rising(self) -> list[tuple[str, float]]:
        """``(category, score)`` of the rising categories, strongest first, at most ``max_categories``."""
        if self._cached is None or self._cached[0] != self.votes:
            scored = [(c, self.score(c)) for c in self.cusum]
            self._cached = (self.votes, sorted(((c, x) for c, x in scored if x >= 1.0),
                                               key=lambda cx: -cx[1])[: self.max_categories])
        return self._cached[1]

    # --- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"kind": "cusum", "clock": self.clock.state(), "baseline": dict(self.baseline),
                "baseline_total": self.baseline_total, "cusum": {c: list(r) for c, r in self.cusum.items()},
                "votes": self.votes}

    def load_state_dict(self, state: dict) -> None:
        """A state of this detector; one of the share-lift detector before it is ignored (it warms up again)."""
        if state.get("kind") != "cusum":
            return
        self.clock.load(tuple(state["clock"]))
        self.baseline = dict(state["baseline"])
        self.baseline_total = state["baseline_total"]
        self.cusum = {c: list(r) for c, r in state["cusum"].items()}
        self.votes = state["votes"]
        self._cached = None
