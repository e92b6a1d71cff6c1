"""Per-variant counters of the shop's closed loop, for the ``ab:{experiment}:{variant}`` hashes.

``impressions`` and ``clicks`` carry the variant the list was served under (the shop copies it from
the list into the event); an ``order`` has no list, so it counts for the variant the user is assigned
to. Prequential counters (``preq_*``, see :mod:`models.online.metrics`) join the same hashes, so one
``HGETALL`` gives a variant's CTR, CVR, HR and MRR. Field names are those the demo panel reads
(``serving/stats.py``: impressions, clicks, orders).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

DEFAULT_VARIANT = "default"


class AbCounters:
    def __init__(self, variant_of: Callable[[str], str] | None = None):
        self.variant_of = variant_of
        self.pending: dict[str, dict[str, int]] = {}

    def count(self, events: Iterable) -> None:
        """Count the window's impressions, clicks and orders (anything else is ignored)."""
        for ev in events:
            t = getattr(ev, "type", None)
            if t == "impression" or t == "click":
                variant = ev.variant or DEFAULT_VARIANT
                field = "impressions" if t == "impression" else "clicks"
            elif t == "order":
                variant = ev.variant or (self.variant_of(ev.user_id) if self.variant_of else DEFAULT_VARIANT)
                field = "orders"
            else:
                continue
            row = self.pending.setdefault(variant, {})
            row[field] = row.get(field, 0) + 1

    def add(self, per_variant: dict[str, dict[str, int]]) -> None:
        for variant, fields in per_variant.items():
            row = self.pending.setdefault(variant, {})
            for f, n in fields.items():
                row[f] = row.get(f, 0) + n

    def drain(self) -> dict[str, dict[str, int]]:
        out, self.pending = self.pending, {}
        return out
