"""Batch feature building for the online ranker: one matrix for a whole take window.

Candidates arrive as objects (one list per source per session); they are flattened once into
arrays (row = one distinct (session, item)), and every feature after that is numpy work over all
rows of the window. Features are fixed transforms into roughly [0, 1] (scores divided by the
session's best per source, ``log1p`` of counts over a cap), so no running scaler is needed and a
checkpoint holds the weights alone.

Columns (see :data:`FEATURES`): per-source normalised score (``score_deep``: the deep session model's
probability when one is loaded, 0 otherwise), raw repeat strength, number of sources,
the base fusion's position, item popularity and age, category / brand / price-band affinity shares
and price distance from the user's usual band, the collaborative affinity, and sparse one-hot crosses
of the time of day and weekend with the source scores (a linear model cannot learn "trending matters
more at night" otherwise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from models.base import Candidate, Session
from models.online.profiles import ItemFacts, UserProfiles

SOURCES: tuple[str, ...] = ("covisit", "repeat", "complementary", "content", "trending", "profile", "deep")
#: Sources only some deployments have (the deep model, once a version is loaded): their column is 0 when
#: absent, and they do not count in ``n_sources``'s scale, so loading one rescales no learned weight.
OPTIONAL = ("deep",)
DAYPARTS = 4          # 6-hour buckets
CROSSED = ("covisit", "repeat", "trending")
HOUR_MS = 3_600_000

FEATURES: tuple[str, ...] = (
    *(f"score_{s}" for s in SOURCES),
    "repeat_raw", "n_sources", "fusion_top", "fusion_pos", "popularity", "age", "unseen",
    "cat_share", "brand_share", "band_share", "band_dist", "no_profile", "mf",
    *(f"daypart{d}_x_{s}" for d in range(DAYPARTS) for s in CROSSED),
    *(f"weekend_x_{s}" for s in CROSSED),
)
COL = {name: j for j, name in enumerate(FEATURES)}


@dataclass
class Pool:
    """A window's candidate rows, grouped by session (``bounds[i]:bounds[i+1]`` are session ``i``'s rows)."""

    items: list[str]
    sess: np.ndarray
    bounds: np.ndarray
    X: np.ndarray
    best: list[Candidate]

    def rows(self, i: int) -> slice:
        return slice(int(self.bounds[i]), int(self.bounds[i + 1]))


def build_pool(sessions: Sequence[Session], per_source: Mapping[str, Sequence[Sequence[Candidate]]],
               weights: Mapping[str, float], facts: ItemFacts, profiles: UserProfiles, mf=None) -> Pool:
    n, S = len(sessions), len(SOURCES)
    src_id = {s: j for j, s in enumerate(SOURCES)}
    row_of: dict[tuple[int, str], int] = {}
    items: list[str] = []
    sess_l: list[int] = []
    e_row: list[int] = []
    e_src: list[int] = []
    e_score: list[float] = []
    e_cand: list[Candidate] = []
    for name, lists in per_source.items():
        j = src_id.get(name)
        if j is None:
            continue
        for i, cands in enumerate(lists):
            for c in cands:
                if c.score <= 0.0:
                    continue
                key = (i, c.item)
                r = row_of.get(key)
                if r is None:
                    r = row_of[key] = len(items)
                    items.append(c.item)
                    sess_l.append(i)
                e_row.append(r)
                e_src.append(j)
                e_score.append(c.score)
                e_cand.append(c)
    m = len(items)
    if any(a > b for a, b in zip(sess_l, sess_l[1:])):
        # Rows arrive source by source, so a session's rows are scattered; ranking and ``rows(i)``
        # read each session's rows as one contiguous run: renumber them session by session.
        order = sorted(range(m), key=sess_l.__getitem__)
        new_row = [0] * m
        for new, old in enumerate(order):
            new_row[old] = new
        items = [items[r] for r in order]
        sess_l = [sess_l[r] for r in order]
        e_row = [new_row[r] for r in e_row]
    sess = np.asarray(sess_l, dtype=np.int64)
    rows, srcs = np.asarray(e_row, dtype=np.int64), np.asarray(e_src, dtype=np.int64)
    scores = np.asarray(e_score, dtype=np.float64)
    X = np.zeros((m, len(FEATURES)), dtype=np.float64)
    if m:
        # Per-source scores normalised by the session's best of that source.
        e_sess = sess[rows]
        best = np.zeros((n, S))
        np.maximum.at(best, (e_sess, srcs), scores)
        norm = scores / best[e_sess, srcs]
        np.add.at(X, (rows, srcs), norm)
        np.minimum(X[:, :S], 1.0, out=X[:, :S])
        rep = srcs == src_id["repeat"]
        X[rows[rep], COL["repeat_raw"]] = np.log1p(scores[rep]) / math.log(4.0)
        X[:, COL["n_sources"]] = (X[:, :S] > 0).sum(axis=1) / (S - len(OPTIONAL))
        w = np.array([weights.get(s, 0.0) for s in SOURCES])
        fused = X[:, :S] @ w
        # The base fusion's order within each session: sort by (session, -fused).
        order = np.lexsort((-fused, sess))
        start = np.searchsorted(sess[order], np.arange(n))
        pos = np.empty(m, dtype=np.int64)
        pos[order] = np.arange(m) - start[sess[order]]
        X[:, COL["fusion_top"]] = 1.0 / (1.0 + pos)
        X[:, COL["fusion_pos"]] = np.log1p(pos) / math.log(100.0)
        # Reason: the candidate with the largest weighted contribution for its row.
        part = w[srcs] * norm
        eo = np.lexsort((-part, rows))
        first = eo[np.r_[True, rows[eo][1:] != rows[eo][:-1]]]
        best_cand = [None] * m
        for e in first.tolist():
            best_cand[e_row[e]] = e_cand[e]
        _item_features(X, sessions, sess, items, facts, profiles)
        if mf is not None:
            users = [sessions[i].user_id for i in sess_l]
            X[:, COL["mf"]] = np.tanh(mf.affinity_many(users, items))
        _context_features(X, sessions, sess)
    else:
        best_cand = []
    bounds = np.searchsorted(sess, np.arange(n + 1)) if m else np.zeros(n + 1, dtype=np.int64)
    return Pool(items, sess, bounds, X, best_cand)


def _now(session: Session) -> float:
    return float(session.interactions[-1].ts) if session.interactions else 0.0


def _item_features(X: np.ndarray, sessions: Sequence[Session], sess: np.ndarray, items: list[str],
                   facts: ItemFacts, profiles: UserProfiles) -> None:
    m = len(items)
    stats_get, meta_get = facts.stats.get, facts.meta.get
    pop = np.zeros(m)
    first = np.zeros(m)
    unseen = np.zeros(m)
    cat_s = np.zeros(m)
    brand_s = np.zeros(m)
    band_s = np.zeros(m)
    band_d = np.zeros(m)
    no_prof = np.zeros(m)
    now = [_now(s) for s in sessions]
    prof = [profiles.get(s.user_id) for s in sessions]
    mean_band = [p.mean_band() if p is not None else None for p in prof]
    for r, (item, i) in enumerate(zip(items, sess.tolist())):
        st = stats_get(item)
        if st is None:
            unseen[r] = 1.0
        else:
            pop[r] = st[0]
            first[r] = st[2]
        p = prof[i]
        meta = meta_get(item)
        if p is None or meta is None or p.total <= 0:
            no_prof[r] = 1.0
            continue
        cat, brand, band = meta
        inv = 1.0 / p.total
        cat_s[r] = p.categories.get(cat, 0.0) * inv
        brand_s[r] = p.brands.get(brand, 0.0) * inv if brand is not None else 0.0
        if band >= 0:
            band_s[r] = p.bands.get(band, 0.0) * inv
            mb = mean_band[i]
            band_d[r] = min(abs(band - mb), 4.0) / 4.0 if mb is not None else 0.0
    X[:, COL["popularity"]] = np.log1p(pop) / math.log1p(max(facts.max_pop, 1.0))
    age_h = np.maximum(np.asarray(now)[sess] - first, 0.0) / HOUR_MS
    X[:, COL["age"]] = np.where(unseen > 0, 0.0, np.minimum(np.log1p(age_h) / math.log1p(24 * 365), 1.0))
    X[:, COL["unseen"]] = unseen
    X[:, COL["cat_share"]] = cat_s
    X[:, COL["brand_share"]] = brand_s
    X[:, COL["band_share"]] = band_s
    X[:, COL["band_dist"]] = band_d
    X[:, COL["no_profile"]] = no_prof


def _context_features(X: np.ndarray, sessions: Sequence[Session], sess: np.ndarray) -> None:
    hours = np.array([_hour(s) for s in sessions], dtype=np.int64)
    days = np.array([_weekday(s) for s in sessions], dtype=np.int64)
    known = hours[sess] >= 0
    part = np.where(known, hours[sess] // (24 // DAYPARTS), 0)
    weekend = (days[sess] >= 5).astype(float)
    for s in CROSSED:
        score = X[:, COL[f"score_{s}"]]
        for d in range(DAYPARTS):
            X[:, COL[f"daypart{d}_x_{s}"]] = np.where(known & (part == d), score, 0.0)
        X[:, COL[f"weekend_x_{s}"]] = weekend * score


def _hour(session: Session) -> int:
    hour = session.context.get("hour")
    if isinstance(hour, int) and 0 <= hour < 24:
        return hour
    ts = _now(session)
    return int(ts // HOUR_MS) % 24 if ts else -1


def _weekday(session: Session) -> int:
    ts = _now(session)
    # Epoch day 0 (1970-01-01) was a Thursday: weekday 3 with Monday = 0.
    return (int(ts // (24 * HOUR_MS)) + 3) % 7 if ts else -1
