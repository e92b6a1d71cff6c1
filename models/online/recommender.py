"""OnlineRecommender: the stream's candidate sources, ranked by the learned River ranker.

Same sources and rules as :class:`~models.recommender.StreamRecommender` (so the worker shards it
the same way), plus a ``profile`` source (popular items of the user's favourite categories, which
also serves cold items nobody co-visited yet) and, in place of the fixed fusion, an
:class:`~models.online.ranker.OnlineRanker` over features from :mod:`models.online.features`.

Per user the last pushed list is remembered (its top rows' features, bounded LRU): when the user's
next interaction arrives, its rank in that list is a prequential metric (per A/B variant) and, if it
is in the list, one positive plus sampled negatives train the ranker. Negatives are the items the
shop showed (the event's ``shown``) when it says so, else any other item of the remembered list.
Users never scored (a replay of training data) are scored every ``bootstrap_every``-th event so the
ranker learns from history. The BiasedMF's factors are LRU-bounded (``mf_max_users``/``mf_max_items``).

A/B: with ``experiment`` set, users are split by :func:`models.online.ab.assign` over ``variants``
(``{"online": 50, "fusion": 50}``); a variant's kind is the start of its name
(:data:`models.online.ab.KINDS`): ``fusion`` is the fixed fusion, ``popular`` the trending list,
``batch`` the learned ranker with each user's list recomputed once per ``batch_period_ms`` of event
time (:mod:`models.online.batch`; between refreshes ``recommend_many`` gives ``None`` for the user:
keep the served list), ``hybrid`` the learned ranker with the deep model, any other name the learned
ranker (without the deep model when a ``hybrid`` arm exists, so the two differ by it alone).
Sources, profiles and the MF learn from every event; the ranker learns from the lists it served.

Deep model: ``deep`` is a :class:`~models.deep.source.DeepSource`; the worker's ``deep-swap`` timer
(``streams/deep_swap.py``) swaps published versions into it. While one is loaded its candidates join
the pool and its probability is the ``score_deep`` feature; without one that column is 0.

>>> rec = OnlineRecommender(page_rules=False)
>>> rec.fit([["a", "b", "c"], ["a", "b"], ["b", "c"]])
>>> [c.item for c in rec.recommend(Session("u", [Interaction("a")]), 2)]
['a', 'b']
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from contracts.events import CatalogItem
from models.base import Candidate, Interaction, Session, candidates_many
from models.candidates.covisit import WEEK_MS
from models.candidates.rising import MINUTE_MS, RisingCategories
from models.deep.source import DeepSource
from models.online.ab import assign, kind_of
from models.online.batch import BatchClock
from models.online.collab import OnlineMF
from models.online.features import build_pool
from models.online.metrics import Prequential
from models.online.profiles import DAY_MS, ItemFacts, UserProfiles
from models.online.ranker import OnlineRanker
from models.online.trendslot import rising_candidates, with_trend_slot
from models.recommender import StreamRecommender

ONLINE_STATE_VERSION = 1


class ProfileSource:
    """Popular items in the user's favourite categories (from the decayed profile)."""

    name = "profile"

    def __init__(self, profiles: UserProfiles, trending, categories: int = 2):
        self.profiles = profiles
        self.trending = trending
        self.categories = categories

    def candidates(self, session: Session, k: int) -> list[Candidate]:
        out: list[Candidate] = []
        for rank, cat in enumerate(self.profiles.top_categories(session.user_id, self.categories)):
            for c in self.trending.top(k, cat):
                out.append(Candidate(c.item, c.score / (rank + 1), f"popular in {cat}, a favourite of yours",
                                     self.name))
        return out


class OnlineRecommender(StreamRecommender):
    name = "online"

    def __init__(self, page_rules: bool = True, window: int = 8, recent: int = 3, candidate_k: int = 30,
                 diversity_cap: int | None = 4, top_k: int = 200, half_life_ms: float | None = WEEK_MS,
                 trending_half_life_ms: float | None = DAY_MS, learning_rate: float = 0.05, l2: float = 1e-5,
                 negatives: int = 4,
                 mf_factors: int = 8, mf_sample: float = 1.0, mf_max_users: int = 100_000,
                 mf_max_items: int = 200_000, profile_half_life_ms: float = 7 * DAY_MS,
                 profile_categories: int = 2, bootstrap_every: int = 10, cache_users: int = 20_000,
                 cache_depth: int = 20, experiment: str | None = None,
                 variants: Mapping[str, float] | None = None, batch_period_ms: int = 3_600_000,
                 rising_baseline_ms: float = 10 * MINUTE_MS, rising_ratio: float = 3.0,
                 rising_threshold: float = 12.0,
                 trend_slot: int | None = None, trend_shown: int = 6,
                 outcome_weights: Mapping[str, float] | None = None, seed: int = 0):
        super().__init__(page_rules=page_rules, window=window, recent=recent, candidate_k=candidate_k,
                         diversity_cap=diversity_cap, top_k=top_k, half_life_ms=half_life_ms,
                         trending_half_life_ms=trending_half_life_ms)
        self.learning_rate = learning_rate
        self.l2 = l2
        self.negatives = negatives
        self.mf_factors = mf_factors
        self.mf_sample = mf_sample
        self.mf_max_users = mf_max_users
        self.mf_max_items = mf_max_items
        self.profile_half_life_ms = profile_half_life_ms
        self.profile_categories = profile_categories
        self.bootstrap_every = bootstrap_every
        self.cache_users = cache_users
        self.cache_depth = cache_depth
        self.experiment = experiment
        self.variants = dict(variants) if variants else {"online": 1.0}
        self.batch_period_ms = batch_period_ms
        self.rising_baseline_ms = rising_baseline_ms
        self.rising_ratio = rising_ratio
        self.rising_threshold = rising_threshold
        self.trend_slot = trend_slot
        self.trend_shown = trend_shown
        self.outcome_weights = dict(outcome_weights or {})
        self.seed = seed
        self._has_hybrid = any(kind_of(v) == "hybrid" for v in self.variants)
        self.batch = BatchClock(batch_period_ms, salt=f"{experiment}:batch")

        self.online_ranker = OnlineRanker(learning_rate=learning_rate, l2=l2, negatives=negatives, seed=seed)
        self.mf = OnlineMF(n_factors=mf_factors, sample=mf_sample, max_users=mf_max_users, max_items=mf_max_items,
                           seed=seed) if mf_factors else None
        self.item_facts = ItemFacts()
        self.profiles = UserProfiles(half_life_ms=profile_half_life_ms)
        self.profile = ProfileSource(self.profiles, self.trending, profile_categories)
        # Which categories more sessions turn to now than their baseline says, for the trend slot
        # (models/online/trendslot.py).
        self.rising = RisingCategories(baseline_half_life_ms=rising_baseline_ms, ratio=rising_ratio,
                                       threshold=rising_threshold)
        # Empty until a deep version is swapped in (the worker's deep-swap timer); then its probability
        # is the ranker's ``score_deep`` feature and its top-K joins the pool.
        self.deep = DeepSource()
        self.prequential = Prequential(k=20)
        # user -> (items of the pushed list, their feature rows, variant)
        self._last: OrderedDict[str, tuple[list[str], np.ndarray | None, str]] = OrderedDict()
        # user -> (item, X, its row, negative rows) of the last pick from a served list, so that the
        # cart or order that follows it can be learned as that choice again, weighted by the outcome.
        self._picked: OrderedDict[str, tuple[str, np.ndarray, int, list[int] | None]] = OrderedDict()
        self._events = 0

    @property
    def version(self) -> str:
        """What lists carry as ``model_version``: the deep version too once one is loaded."""
        return f"{self.name}:{self.deep.version}" if self.deep.version else self.name

    # --- A/B ---------------------------------------------------------------------------------------
    def variant_of(self, user: str) -> str:
        if self.experiment is None or len(self.variants) == 1:
            return next(iter(self.variants))
        return assign(user, self.experiment, self.variants)

    @staticmethod
    def uses_fusion(variant: str) -> bool:
        return kind_of(variant) == "fusion"

    # --- learning ----------------------------------------------------------------------------------
    def learn_one(self, session: Session, interaction: Interaction) -> None:
        self.learn_online(session, interaction)
        super().learn_one(session, interaction)

    def learn_online(self, session: Session, interaction: Interaction) -> None:
        """Everything the online models learn from one event (the worker calls this beside its sharded sources)."""
        user = session.user_id
        self._events += 1
        last = self._last.get(user)
        # Never for a batch user: scoring here would take the refresh that the worker's list is due.
        if last is None and self.bootstrap_every and self._events % self.bootstrap_every == 0 \
                and session.interactions and kind_of(self.variant_of(user)) != "batch":
            self.recommend_many([session], self.cache_depth)
            last = self._last.get(user)
        if last is not None:
            items, X, variant = last
            try:
                pos = items.index(interaction.item)
            except ValueError:
                pos = -1
            self.prequential.record(variant, pos + 1 if pos >= 0 else 0)
            if X is not None and pos >= 0 and pos < len(X):
                negatives = shown_rows(items, interaction.shown, pos)
                self.online_ranker.learn_one(X, pos, negatives)
                if self.outcome_weights:
                    self._picked[user] = (interaction.item, X, pos, negatives)
                    self._picked.move_to_end(user)
                    if len(self._picked) > self.cache_users:
                        self._picked.popitem(last=False)
        self._learn_outcome(user, interaction)
        self.item_facts.learn_one(interaction)
        category_of = self.trending.category_of
        self.rising.learn_one(session, interaction, category_of.get(interaction.item), category_of)
        self.profiles.learn_one(user, interaction, self.item_facts)
        if self.mf is not None:
            self.mf.learn_one(user, interaction.item)

    def _learn_outcome(self, user: str, interaction: Interaction) -> None:
        """A cart or order of the item last picked from our list: that choice again, weighted.

        The click alone teaches what gets clicked; under the shop's judge (and in shops) what gets
        clicked is not what gets bought (accessories that fit the page are clicked, main products in
        the session's intent are bought), so the ranker would trade orders for clicks."""
        weight = self.outcome_weights.get(interaction.type)
        if not weight:
            return
        picked = self._picked.get(user)
        if picked is None or picked[0] != interaction.item:
            return
        _, X, pos, negatives = picked
        self.online_ranker.learn_one(X, pos, negatives, weight=weight)
        if interaction.type == "order":
            del self._picked[user]  # one order per pick; a cart may still follow a cart

    def learn_item(self, item: CatalogItem) -> None:
        super().learn_item(item)
        self.item_facts.learn_item(item)

    def remove_item(self, item_id: str) -> None:
        super().remove_item(item_id)
        self.item_facts.remove_item(item_id)

    # --- recommending ------------------------------------------------------------------------------
    def recommend_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate] | None]:
        """One list per session; ``None`` for a ``batch`` user between refreshes (keep the served list)."""
        variants = [self.variant_of(s.user_id) for s in sessions]
        out: list[list[Candidate] | None] = [None] * len(sessions)
        groups: dict[str, list[int]] = {}
        scored = list(sessions)
        for i, v in enumerate(variants):
            kind = kind_of(v)
            if kind == "batch":
                at_boundary = self.batch.due(sessions[i])
                if at_boundary is None:
                    continue
                scored[i] = at_boundary
                kind = "online"  # the same ranker, from the state at the boundary
            if kind == "online" and not self._has_hybrid:
                kind = "hybrid"
            groups.setdefault(kind, []).append(i)
        slot = self._trend_slot(k) if groups else None
        for kind, idx in groups.items():
            batch = [scored[i] for i in idx]
            if kind == "fusion":
                ranked = super().recommend_many(batch, k)
            elif kind == "popular":
                # Trending in the categories of the session (the product on screen first), then overall.
                ranked = [self.rules.apply(s, self.trending.candidates(s, k + 5), k, self.facts) for s in batch]
            else:
                ranked = self._recommend_online(batch, k, [variants[i] for i in idx], deep=kind == "hybrid",
                                                slot=slot)
                for i, recs in zip(idx, ranked):
                    out[i] = recs
                continue
            for i, session, recs in zip(idx, batch, ranked):
                recs = slot(session, recs) if slot is not None else recs
                out[i] = recs
                self._remember(sessions[i].user_id, [c.item for c in recs], None, variants[i])
        return out

    def _trend_slot(self, k: int):
        """``(session, list) -> list`` with the trend slot, or ``None`` (off, or nothing rising now)."""
        if self.trend_slot is None:
            return None
        cats = {c for c, _ in self.rising.rising()}
        if not cats:
            return None
        rising = rising_candidates(self.rising, self.trending, k)
        category_of = self.facts.category_of

        def apply(session: Session, ranked: list[Candidate]) -> list[Candidate]:
            allowed = self.rules.apply(session, rising, len(rising), self.facts)
            return with_trend_slot(ranked, allowed, category_of, cats, slot=self.trend_slot, shown=self.trend_shown,
                                   k=k)
        return apply

    def _recommend_online(self, sessions: Sequence[Session], k: int, variants: list[str],
                          deep: bool = True, slot=None) -> list[list[Candidate]]:
        ck = max(self.candidate_k, k)
        per_source = {name: candidates_many(src, sessions, k if src is self.trending else ck)
                      for name, src in self.sources.items() if self.weights.get(name, 0.0) > 0}
        per_source["profile"] = [self.profile.candidates(s, k) for s in sessions]
        if deep and self.deep.scorer is not None:
            per_source["deep"] = self.deep.candidates_many(sessions, ck)
        pool = build_pool(sessions, per_source, self.weights, self.item_facts, self.profiles, self.mf)
        scores = self.online_ranker.score_pool(pool)
        depth_extra = 5
        ranked_rows = self.online_ranker.rank_pool(pool, max(k, self.cache_depth) + depth_extra)
        out = []
        for i, (session, rows) in enumerate(zip(sessions, ranked_rows)):
            ranked = [Candidate(pool.items[r], float(scores[r]), pool.best[r].reason, pool.best[r].source)
                      for r in rows]
            kept = self.rules.apply(session, ranked, k, self.facts)
            seg = pool.rows(i)
            if len(kept) < k and len(rows) < seg.stop - seg.start:  # the rules ate the top: go all the way
                rows = (seg.start + np.argsort(-scores[seg], kind="stable")).tolist()
                ranked = [Candidate(pool.items[r], float(scores[r]), pool.best[r].reason, pool.best[r].source)
                          for r in rows]
                kept = self.rules.apply(session, ranked, k, self.facts)
            if slot is not None:
                kept = slot(session, kept)
            out.append(kept)
            # Remember what was pushed (after rules), with the feature rows of those items.
            pushed = {c.item for c in kept[: self.cache_depth]}
            keep_rows = [r for r in rows if pool.items[r] in pushed][: self.cache_depth]
            self._remember(session.user_id, [pool.items[r] for r in keep_rows],
                           pool.X[keep_rows].astype(np.float32), variants[i])
        return out

    def _remember(self, user: str, items: list[str], X: np.ndarray | None, variant: str) -> None:
        last = self._last
        last[user] = (items, X, variant)
        last.move_to_end(user)
        if len(last) > self.cache_users:
            last.popitem(last=False)

    # --- metrics -----------------------------------------------------------------------------------
    def drain_metrics(self) -> dict[str, dict[str, int]]:
        """Prequential counters per variant since the last call (for ``HINCRBY`` into ``ab`` / ``stats``)."""
        return self.prequential.drain()

    # --- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["online"] = self.online_state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.load_online_state_dict(state["online"])

    def online_state_dict(self) -> dict:
        """Only the online models (what the worker checkpoints: the rest recovers from its tables)."""
        return {"version": ONLINE_STATE_VERSION, "ranker": self.online_ranker.state_dict(),
                "mf": self.mf.state_dict() if self.mf is not None else None,
                "item_facts": self.item_facts.state_dict(), "profiles": self.profiles.state_dict(),
                "prequential": self.prequential.totals, "events": self._events,
                "batch": self.batch.state_dict(), "rising": self.rising.state_dict()}

    def load_online_state_dict(self, online: dict) -> None:
        if online.get("version") != ONLINE_STATE_VERSION:
            raise ValueError(f"online state version {online.get('version')!r}, expected {ONLINE_STATE_VERSION}")
        self.online_ranker.load_state_dict(online["ranker"])
        if self.mf is not None and online["mf"] is not None:
            self.mf.load_state_dict(online["mf"])
        self.item_facts.load_state_dict(online["item_facts"])
        self.profiles.load_state_dict(online["profiles"])
        self.prequential.totals = {v: dict(r) for v, r in online["prequential"].items()}
        self._events = online["events"]
        # Checkpoints written before these were kept start them empty: a batch user then gets one
        # early refresh, and the rising categories need a few minutes of events.
        if "batch" in online:
            self.batch.load_state_dict(online["batch"])
        if "rising" in online:
            self.rising.load_state_dict(online["rising"])
        self._last.clear()


def shown_rows(items: list[str], shown: Sequence[str] | None, positive: int) -> list[int] | None:
    """Rows of the remembered list that the impression showed, the picked one excepted.

    ``None`` (draw from the whole remembered list) without an impression, or when none of the shown
    items is in the list we remember (the shop showed another list: no feature rows for them).
    """
    if not shown:
        return None
    row = {item: r for r, item in enumerate(items)}
    rows = [r for item in dict.fromkeys(shown) if (r := row.get(item)) is not None and r != positive]
    return rows or None


def from_settings(settings=None, page_rules: bool = True) -> OnlineRecommender:
    """The worker's online recommender: ``FRESHREC_WORKER_RECOMMENDER=models.online.recommender:from_settings``.

    ``FRESHREC_AB_EXPERIMENT`` (the salt) and ``FRESHREC_AB_VARIANTS`` split users between variants.
    """
    from freshrec.settings import Settings
    from models.online.ab import parse_shares

    s = settings if settings is not None else Settings()
    return OnlineRecommender(page_rules=page_rules, window=s.covis_window, top_k=s.covis_top_k,
                             half_life_ms=s.covis_half_life_s * 1000.0,
                             trending_half_life_ms=s.trending_half_life_s * 1000.0, mf_sample=s.online_mf_sample,
                             mf_max_users=s.online_mf_max_users, mf_max_items=s.online_mf_max_items,
                             experiment=s.ab_experiment or None,
                             variants=parse_shares(s.ab_variants) if s.ab_experiment else None,
                             batch_period_ms=int(s.ab_batch_period_s * 1000),
                             rising_baseline_ms=s.trending_rising_baseline_s * 1000.0,
                             rising_ratio=s.trending_rising_ratio, rising_threshold=s.trending_rising_threshold,
                             trend_slot=s.online_trend_slot if s.online_trend_slot >= 0 else None,
                             outcome_weights={"cart": s.online_cart_weight, "order": s.online_order_weight})
