"""The experiment's figures from the shop's log alone: per-variant rates with bootstrap intervals over
users, CTR over stream time, and how soon each variant's lists follow the trend shift.

Pure functions over the records the shop sent (``freshrec shop --log-events``): what users were
shown, clicked, put in the cart and ordered. The worker's own counters are not read, so the judge
and the judged share nothing but Kafka and Redis.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

#: Per-user columns, summed per variant (ratios of sums, so heavy users weigh by their traffic).
COLUMNS = ("impressions", "clicks", "views", "sessions", "cart_sessions", "orders", "revenue")
#: metric -> (numerator column, denominator column)
METRICS = {
    "ctr": ("clicks", "impressions"),                   # clicks on a shown list per impression
    "add_to_cart_rate": ("cart_sessions", "sessions"),  # share of sessions with an add-to-cart
    "orders_per_session": ("orders", "sessions"),
    "revenue_per_session": ("revenue", "sessions"),
}


def read_log(path: Path) -> tuple[list[dict], dict[str, str]]:
    """Events in log order and the catalog's ``item -> leaf category`` (the last upsert wins)."""
    events, leaf = [], {}
    with open(path, "rb") as f:
        for line in f:
            rec = json.loads(line)
            if "type" in rec:
                events.append(rec)
            else:
                leaf[rec["item_id"]] = rec["category"][-1]
    return events, leaf


def per_user(events: Iterable[dict]) -> dict[str, np.ndarray]:
    """``user -> COLUMNS`` totals. A click counts only when it came from a shown list."""
    rows: dict[str, np.ndarray] = {}
    sessions: dict[str, set] = defaultdict(set)
    carted: dict[str, set] = defaultdict(set)
    col = {c: j for j, c in enumerate(COLUMNS)}
    for ev in events:
        user, t = ev["user_id"], ev["type"]
        row = rows.get(user)
        if row is None:
            row = rows[user] = np.zeros(len(COLUMNS))
        if ev.get("session_id"):
            sessions[user].add(ev["session_id"])
        if t == "impression":
            row[col["impressions"]] += 1
        elif t == "click" and ev.get("list_id"):
            row[col["clicks"]] += 1
        elif t == "view":
            row[col["views"]] += 1
        elif t == "cart" and ev.get("session_id"):
            carted[user].add(ev["session_id"])
        elif t == "order":
            row[col["orders"]] += 1
            row[col["revenue"]] += float(ev.get("price") or 0.0) * int(ev.get("quantity") or 1)
    for user, row in rows.items():
        row[col["sessions"]] = len(sessions[user])
        row[col["cart_sessions"]] = len(carted[user])
    return rows


def bootstrap_ratio(num: np.ndarray, den: np.ndarray, *, n_boot: int = 1000, seed: int = 0,
                    level: float = 0.95) -> dict:
    """``sum(num) / sum(den)`` with a percentile bootstrap interval, resampling users (rows)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    n = len(num)
    if n == 0 or den.sum() <= 0:
        return {"value": None, "lo": None, "hi": None}
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    nums, dens = weights @ num, weights @ den
    ratios = nums[dens > 0] / dens[dens > 0]
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(ratios, [tail, 100 - tail])
    return {"value": float(num.sum() / den.sum()), "lo": float(lo), "hi": float(hi)}


def variant_table(rows: dict[str, np.ndarray], variant_of: Callable[[str], str], variants: Iterable[str],
                  *, n_boot: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Per variant: users, totals and each metric of :data:`METRICS` with its 95 % interval."""
    col = {c: j for j, c in enumerate(COLUMNS)}
    out = {}
    for v in variants:
        users = [u for u in rows if variant_of(u) == v]
        m = np.array([rows[u] for u in users]).reshape(len(users), len(COLUMNS))
        entry: dict = {"users": len(users), **{c: float(m[:, j].sum()) for c, j in col.items()}}
        for name, (a, b) in METRICS.items():
            entry[name] = bootstrap_ratio(m[:, col[a]], m[:, col[b]], n_boot=n_boot, seed=seed)
        out[v] = entry
    return out


def list_age(events: list[dict], variants: Iterable[str]) -> dict[str, dict]:
    """Per variant, the stream seconds between the event a shown list was computed at (its ``list_id``)
    and the impression: how fresh what users saw was (p50 / p90), lag of the worker included."""
    ts_of = {ev["event_id"]: ev["ts"] for ev in events if ev["type"] != "impression"}
    ages: dict[str, list[float]] = {v: [] for v in variants}
    for ev in events:
        if ev["type"] == "impression" and ev.get("variant") in ages and ev.get("list_id") in ts_of:
            ages[ev["variant"]].append((ev["ts"] - ts_of[ev["list_id"]]) / 1000)
    return {v: {"p50_s": float(np.percentile(a, 50)), "p90_s": float(np.percentile(a, 90)), "n": len(a)}
            if a else {"p50_s": None, "p90_s": None, "n": 0} for v, a in ages.items()}


def ctr_timeline(events: Iterable[dict], variants: Iterable[str], start_ms: int, bin_s: float) -> dict:
    """CTR per ``bin_s`` of stream time per variant (``None`` for a bin without impressions)."""
    variants = list(variants)
    counts: dict[str, dict[int, list[int]]] = {v: defaultdict(lambda: [0, 0]) for v in variants}
    last = 0
    for ev in events:
        v = ev.get("variant")
        if v not in counts or not (ev["type"] == "impression" or (ev["type"] == "click" and ev.get("list_id"))):
            continue
        b = int((ev["ts"] - start_ms) // (bin_s * 1000))
        if b < 0:
            continue
        last = max(last, b)
        counts[v][b][0 if ev["type"] == "impression" else 1] += 1
    t = [round((b + 0.5) * bin_s, 1) for b in range(last + 1)]
    ctr = {v: [(c[b][1] / c[b][0]) if c.get(b, [0])[0] else None for b in range(last + 1)]
           for v, c in counts.items()}
    return {"t_s": t, "ctr": ctr, "bin_s": bin_s}


def shift_follow(events: list[dict], is_trendy: Callable[[str], bool], variants: Iterable[str], shift_ts: int,
                 *, window_s: float = 30.0, span: int = 3) -> dict:
    """Stream seconds after the shift until each variant's shown lists give the trendy categories at
    least their share of post-shift traffic (detail views), over ``span`` consecutive windows.

    ``target`` is the trendy share of every view from the shift to the end; ``traffic_s`` is when the
    views themselves first reach it over a span (organic traffic ramps up as sessions start), the
    reference the lists are compared with. ``None``: never within the run.
    """
    variants = list(variants)
    w_ms = int(window_s * 1000)
    views: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    shown: dict[str, dict[int, list[int]]] = {v: defaultdict(lambda: [0, 0]) for v in variants}
    last = -1
    for ev in events:
        if ev["ts"] < shift_ts:
            continue
        w = (ev["ts"] - shift_ts) // w_ms
        if ev["type"] == "view":
            views[w][0] += 1
            views[w][1] += is_trendy(ev["item_id"])
            last = max(last, w)
        elif ev["type"] == "impression" and ev.get("variant") in shown:
            row = shown[ev["variant"]][w]
            for item in ev.get("shown") or ():
                row[0] += 1
                row[1] += is_trendy(item)
    total = sum(n for n, _ in views.values())
    if total == 0:
        return {"target": None, "traffic_s": None, "follow_s": dict.fromkeys(variants), "window_s": window_s}
    target = sum(k for _, k in views.values()) / total

    def first_reach(table: dict[int, list[int]]) -> float | None:
        for w in range(0, last - span + 2):
            n = sum(table[w + j][0] for j in range(span) if (w + j) in table)
            k = sum(table[w + j][1] for j in range(span) if (w + j) in table)
            if n and k / n >= target:
                return w * window_s
        return None

    return {"target": round(target, 4), "traffic_s": first_reach(views),
            "follow_s": {v: first_reach(shown[v]) for v in variants}, "window_s": window_s, "span": span}
