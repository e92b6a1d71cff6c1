"""The demo page's live panel: events/s, freshness, model version and per-variant CTR.

Figures come from the worker's ``stats:{name}`` hashes (counters, gauges and the ``fh:<upper ms>``
freshness histogram, read with :func:`percentile_from_histogram`) and
the ``ab:{experiment}:{variant}`` hashes (impressions, clicks, orders). Field names are looked up from
short lists of synonyms, and anything absent is ``None`` (the page shows "-"): the panel must never
break because a counter was renamed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

EVENT_COUNTERS = ("events", "events_total", "events_processed", "processed")
RATE_GAUGES = ("events_per_s", "rate")
FRESHNESS_GAUGES = ("freshness_p50_ms", "freshness_ms", "last_freshness_ms")
MODEL_GAUGES = ("model_version", "model")


def _num(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _first(hashes: list[dict[str, str]], names: tuple[str, ...]) -> str | None:
    for h in hashes:
        for name in names:
            if h.get(name) not in (None, ""):
                return h[name]
    return None


def histogram(hashes: list[dict[str, str]]) -> dict[str, float]:
    """The summed ``fh:<upper ms>`` buckets of the worker's freshness histogram, by field name."""
    counts: dict[str, float] = {}
    for h in hashes:
        for name, value in h.items():
            if name.startswith("fh:") and _num(name[3:]) is not None and (n := _num(value)):
                counts[name] = counts.get(name, 0.0) + n
    return counts


def percentile_from_histogram(hist: dict[str, int | float | str], q: float) -> float | None:
    """``q``-quantile (0..1) of ``fh:<upper ms>`` counts: the upper bound (ms) of the bucket holding it.

    Counts may be numbers or the strings a Redis hash returns; other fields, malformed bounds and
    non-positive counts are ignored. None when the histogram is empty. The one reading of the worker's
    histogram (the panel, ``freshrec report``, the pipeline benchmark).
    """
    rows = []
    for name, n in hist.items():
        if not name.startswith("fh:"):
            continue
        try:
            upper, count = float(name[3:]), float(n)
        except (TypeError, ValueError):
            continue
        if count > 0:
            rows.append((upper, count))
    rows.sort()
    total = sum(n for _, n in rows)
    if not total:
        return None
    need = q * total
    acc = 0.0
    for upper, n in rows:
        acc += n
        if acc >= need:
            return upper
    return rows[-1][0]


@dataclass
class LivePanel:
    """Turns raw hashes into panel figures; remembers the last event count to derive a rate."""

    _last: tuple[float, float] | None = field(default=None, repr=False)
    _last_hist: dict[str, float] = field(default_factory=dict, repr=False)

    def figures(self, stats: dict[str, dict[str, str]], ab: dict[str, dict[str, str]],
                now: float | None = None) -> dict:
        now = time.monotonic() if now is None else now
        hashes = list(stats.values())
        rate = _num(_first(hashes, RATE_GAUGES))
        count = sum(n for h in hashes if (n := _num(_first([h], EVENT_COUNTERS))) is not None) if hashes else None
        if rate is None and count is not None and self._last is not None and now > self._last[0]:
            rate = max(0.0, (count - self._last[1]) / (now - self._last[0]))
        if count is not None:
            self._last = (now, count)
        # freshness over the events since the previous call (live), else since the worker started
        hist = histogram(hashes)
        recent = {b: n - self._last_hist.get(b, 0.0) for b, n in hist.items() if n > self._last_hist.get(b, 0.0)}
        self._last_hist = hist
        window = recent or hist
        p50, p99 = percentile_from_histogram(window, 0.5), percentile_from_histogram(window, 0.99)
        if p50 is None:
            p50 = _num(_first(hashes, FRESHNESS_GAUGES))
        variants = {}
        for name, h in sorted(ab.items()):
            _, _, rest = name.partition(":")  # "ab:{experiment}:{variant}" -> "{experiment}:{variant}"
            impressions, clicks = _num(h.get("impressions")), _num(h.get("clicks"))
            variants[rest] = {
                "impressions": impressions, "clicks": clicks, "orders": _num(h.get("orders")),
                "ctr": (clicks / impressions) if impressions and clicks is not None else None,
            }
        return {"events_per_s": rate, "events_total": count, "freshness_p50_ms": p50, "freshness_p99_ms": p99,
                "model_version": _first(hashes, MODEL_GAUGES), "variants": variants}
