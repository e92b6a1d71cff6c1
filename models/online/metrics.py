"""Prequential metrics of the live stream: before learning an event, where was its item in our last list?

Counts are kept per variant as integers (reciprocal ranks in millionths), so the worker can add
them to Redis hashes with ``HINCRBY`` and several workers' counts simply sum. :meth:`drain` hands
over what accumulated since the previous call.
"""

from __future__ import annotations

SCALE = 1_000_000


class Prequential:
    """Running HR@K / MRR@K per variant, plus the increments not yet exported."""

    def __init__(self, k: int = 20):
        self.k = k
        self.totals: dict[str, dict[str, int]] = {}
        self._pending: dict[str, dict[str, int]] = {}

    def record(self, variant: str, rank: int) -> None:
        """``rank`` is 1-based, 0 when the item was not in the list (or beyond ``k``)."""
        hit = 0 < rank <= self.k
        rr = SCALE // rank if hit else 0
        for table in (self.totals, self._pending):
            row = table.setdefault(variant, {"preq_n": 0, "preq_hits": 0, "preq_rr_e6": 0, "preq_rr2_e6": 0})
            row["preq_n"] += 1
            row["preq_hits"] += hit
            row["preq_rr_e6"] += rr
            row["preq_rr2_e6"] += rr * rr // SCALE

    def drain(self) -> dict[str, dict[str, int]]:
        out, self._pending = self._pending, {}
        return out

    def summary(self) -> dict[str, dict[str, float]]:
        """``{variant: {"n", "hr", "mrr"}}`` with hr and mrr in percent."""
        out = {}
        for variant, row in self.totals.items():
            n = row["preq_n"]
            out[variant] = {"n": n, "hr": 100.0 * row["preq_hits"] / n if n else 0.0,
                            "mrr": 100.0 * row["preq_rr_e6"] / SCALE / n if n else 0.0}
        return out
