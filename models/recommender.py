"""StreamRecommender: the worker's (and the evaluation's) recommender, sources + fusion + rules.

Sources propose (co-visitation, repeat, complementary, content, trending), :class:`WeightedFusion`
merges them and keeps each item's strongest reason, :class:`Rules` filters. ``page_rules=False`` is
the papers' offline protocol (the item on screen may be the answer, no diversity cap);
``page_rules=True`` is the product's detail page.

The same object serves a single-worker run and evaluation (``learn_one`` learns everything
locally). A sharded worker drives the halves itself: ``covisit.pairs`` / ``complementary.pairs``
where the session lives, ``add_pair`` where item ``a`` lives, ``neighbors`` / ``set_neighbors`` to
install lists owned elsewhere.

>>> rec = StreamRecommender(page_rules=False)
>>> rec.fit([["a", "b", "c"], ["a", "b"], ["b", "c"]])
>>> [c.item for c in rec.recommend(Session("u", [Interaction("a")]), 2)]
['b', 'a']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from contracts.events import CatalogItem
from models.base import Candidate, Estimator, Interaction, Session, candidates_many
from models.candidates.complementary import Complementary
from models.candidates.content import ContentIndex
from models.candidates.covisit import WEEK_MS, CoVisitation
from models.candidates.pairstore import decay_weights
from models.candidates.repeat import Repeat
from models.candidates.trending import DAY_MS, Trending
from models.ranking.fusion import DEFAULT_WEIGHTS, WeightedFusion
from models.ranking.pool import ItemIds, Pool
from models.ranking.rules import CatalogFacts, Rules

STATE_VERSION = 1


class StreamRecommender(Estimator):
    name = "stream"
    # Hyperparameters that only change scoring: models.selection tries them on one fitted instance.
    scoring_params: tuple[str, ...] = ("weights", "repeat_decay", "recent", "recency_exponent", "norm_exponent",
                                       "candidate_k")

    def __init__(self, page_rules: bool = True, window: int = 8, backward: float = 0.5, top_k: int = 200,
                 half_life_ms: float | None = WEEK_MS, recent: int = 3, norm_exponent: float = 0.75,
                 repeat_decay: float = 0.7, trending_half_life_ms: float | None = DAY_MS,
                 weights: Mapping[str, float] | None = None, candidate_k: int = 30,
                 diversity_cap: int | None = 4, max_seen: int = 20, recency_exponent: float = 1.0):
        self.page_rules = page_rules
        self.window = window
        self.backward = backward
        self.top_k = top_k
        self.half_life_ms = half_life_ms
        self.recent = recent
        self.norm_exponent = norm_exponent
        self.repeat_decay = repeat_decay
        self.trending_half_life_ms = trending_half_life_ms
        self.weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
        self.candidate_k = candidate_k
        self.diversity_cap = diversity_cap
        self.max_seen = max_seen
        self.recency_exponent = recency_exponent

        self.covisit = CoVisitation(window=window, backward=backward, top_k=top_k, half_life_ms=half_life_ms,
                                    recent=recent, recency_exponent=recency_exponent, norm_exponent=norm_exponent)
        self.repeat = Repeat(decay=repeat_decay)
        self.complementary = Complementary()
        self.content = ContentIndex()
        self.trending = Trending(half_life_ms=trending_half_life_ms)
        self.ranker = WeightedFusion(self.weights)
        self.rules = Rules(diversity_cap=diversity_cap, max_seen=max_seen) if page_rules \
            else Rules.for_protocol(page_rules=False)
        self.facts = CatalogFacts()
        self.item_ids = ItemIds()  # scoring's interning of item strings (a cache, not learned state)

    @property
    def sources(self) -> dict[str, object]:
        return {s.name: s for s in (self.covisit, self.repeat, self.complementary, self.content, self.trending)}

    # --- learning ----------------------------------------------------------------------------------
    def fit(self, sessions: Sequence[Sequence[str]]) -> None:
        sessions = [[str(x) for x in s] for s in sessions]
        for source in self.sources.values():
            fit = getattr(source, "fit", None)
            if fit is not None:
                fit(sessions)

    def learn_one(self, session: Session, interaction: Interaction) -> None:
        """Learn one event, given the session before it (call after scoring that event)."""
        self.covisit.learn_one(session, interaction)
        self.complementary.learn_one(session, interaction)
        self.trending.learn_one(session, interaction)

    def learn_item(self, item: CatalogItem) -> None:
        """A catalog upsert: content vector, catalog complements, category and stock."""
        self.content.learn_item(item)
        self.complementary.learn_item(item)
        self.trending.learn_item(item)
        self.facts.learn_item(item)

    def remove_item(self, item_id: str) -> None:
        """A catalog tombstone: stop proposing the item by content and treat it as unavailable."""
        self.content.remove_item(item_id)
        self.facts.remove_item(item_id)
        self.facts.out_of_stock.add(item_id)

    def set_scoring_params(self, **params) -> None:
        """Change ``scoring_params`` on a fitted instance, keeping everything learned."""
        unknown = set(params) - set(self.scoring_params)
        if unknown:
            raise ValueError(f"{type(self).__name__} cannot change {sorted(unknown)} without a refit")
        for name, value in params.items():
            setattr(self, name, dict(value) if name == "weights" else value)
        self.ranker = WeightedFusion(self.weights)
        self.repeat.decay = self.repeat_decay
        cv = self.covisit
        cv.recent, cv.recency_exponent, cv.norm_exponent = self.recent, self.recency_exponent, self.norm_exponent
        cv._recency = decay_weights(self.recent, self.recency_exponent)

    def set_pair_params(self, window: int | None = None, backward: float | None = None) -> None:
        """How pairs are formed from here on (a published tuning configuration, streams/tuning_swap.py);
        the counts already learned stay as they were."""
        if window is not None:
            self.window = self.covisit.window = int(window)
        if backward is not None:
            self.backward = self.covisit.backward = float(backward)

    # --- recommending ------------------------------------------------------------------------------
    def recommend_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        if k <= 0:
            return [[] for _ in sessions]
        if not sessions:
            return []
        if not hasattr(self.ranker, "rank_pool"):
            return self.recommend_objects(sessions, k)
        # The whole batch as arrays (models.ranking.pool): Candidates only for each session's final top k.
        ck = max(self.candidate_k, k)
        active = [(name, src) for name, src in self.sources.items() if self.weights.get(name, 0.0) > 0]
        if not hasattr(self, "item_ids"):  # unpickled from before the array path
            self.item_ids = ItemIds()
        pool = Pool(len(sessions), [name for name, _ in active], self.item_ids)
        for n, (name, src) in enumerate(active):
            depth = k if src is self.trending else ck
            rows = getattr(src, "candidates_pool", None)
            if rows is not None:
                rows(sessions, depth, pool, n)
            else:
                pool.add_candidates(n, candidates_many(src, sessions, depth))
        ranked = self.ranker.rank_pool(pool)
        return self.rules.keep(sessions, ranked, k, self.facts, self.item_ids).to_lists(pool)

    def recommend_objects(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        """The same lists one Candidate at a time (rankers without ``rank_pool``; the reference in tests)."""
        if k <= 0:
            return [[] for _ in sessions]
        ck = max(self.candidate_k, k)
        per_source = [candidates_many(src, sessions, k if src is self.trending else ck)
                      for name, src in self.sources.items() if self.weights.get(name, 0.0) > 0]
        out = []
        for i, session in enumerate(sessions):
            pool = [c for lists in per_source for c in lists[i]]
            # Rank only as deep as the rules can plausibly eat into; go all the way when they did.
            depth = k + len(session.purchased) + 5
            ranked = self.ranker.rank(session, pool, depth)
            kept = self.rules.apply(session, ranked, k, self.facts)
            if len(kept) < k and len(ranked) == depth:
                kept = self.rules.apply(session, self.ranker.rank(session, pool, len(pool)), k, self.facts)
            out.append(kept)
        return out

    def recommend(self, session: Session, k: int) -> list[Candidate]:
        return self.recommend_many([session], k)[0]

    def similar_items(self, item: str, k: int) -> list[Candidate]:
        """For ``rec:item:{item}`` (anonymous visitors): co-visited, then content-similar items."""
        probe = Session(user_id="_item", interactions=[Interaction(item)])
        pool = self.covisit.candidates(probe, k) + self.content.candidates(probe, k)
        ranked = self.ranker.rank(probe, pool, len(pool))
        return [c for c in ranked if c.item != item and c.item not in self.facts.out_of_stock][:k]

    def complementary_items(self, item: str, k: int) -> list[Candidate]:
        probe = Session(user_id="_item", interactions=[Interaction(item)])
        return [c for c in self.complementary.candidates(probe, k) if c.item not in self.facts.out_of_stock]

    # --- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything learned, as plain containers and numpy arrays (picklable), for checkpoints."""
        state = {name: src.state_dict() for name, src in self.sources.items()}
        state["facts"] = self.facts.state_dict()
        state["version"] = STATE_VERSION
        return state

    def load_state_dict(self, state: dict) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"checkpoint state version {state.get('version')!r}, expected {STATE_VERSION}")
        for name, src in self.sources.items():
            src.load_state_dict(state[name])
        self.facts.load_state_dict(state["facts"])


def from_settings(settings=None, page_rules: bool = True) -> StreamRecommender:
    """The worker's recommender with the operator's ``FRESHREC_COVIS_*`` / ``FRESHREC_TRENDING_*`` values.

    For ``FRESHREC_WORKER_RECOMMENDER=models.recommender:from_settings``; the plain class keeps the
    defaults chosen on the validation slices (``freshrec evaluate --model stream``).
    """
    from freshrec.settings import Settings  # only the worker needs settings; evaluation stays pure

    s = settings if settings is not None else Settings()
    return StreamRecommender(page_rules=page_rules, window=s.covis_window, top_k=s.covis_top_k,
                             half_life_ms=s.covis_half_life_s * 1000.0,
                             trending_half_life_ms=s.trending_half_life_s * 1000.0)
