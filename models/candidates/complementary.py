"""Complementary items: "bought with X", from cart/order co-occurrence plus catalog complements.

Co-purchase pairs link every cart/order item of a session with the previous ones in both directions
(order inside a basket carries no meaning), in a decayed, top-K pruned
:class:`~models.candidates.pairstore.PairStore`; the learning split for sharding is the same as
co-visitation's (:meth:`pairs` where the session lives, :meth:`add_pair` where item ``a`` lives).

Catalog complements come from :class:`~contracts.events.CatalogItem.complements` ("this case is an
accessory for that phone"): someone looking at the phone is offered the case, and vice versa, with
a fixed score ``catalog_score`` relative to the best co-purchase score of the session.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events import CatalogItem
from models.base import Candidate, Estimator, Interaction, Session
from models.candidates.covisit import pool_rows, score_rows
from models.candidates.pairstore import PairModel, PairStore, decay_weights
from models.ranking.pool import Pool

WEEK_MS = 7 * 24 * 3600 * 1000
BASKET = ("cart", "order")

Pair = tuple[str, str, float]


class Complementary(PairModel, Estimator):
    name = "complementary"
    reason_template = "bought with {item}"

    def __init__(self, top_k: int = 100, half_life_ms: float | None = 4 * WEEK_MS, basket_size: int = 20,
                 recent: int = 3, catalog_score: float = 0.5, max_links: int = 50):
        self.top_k = top_k
        self.half_life_ms = half_life_ms
        self.basket_size = basket_size
        self.recent = recent
        self.catalog_score = catalog_score
        self.max_links = max_links
        self.store = PairStore(top_k=top_k, half_life_ms=half_life_ms)
        self.links: dict[str, list[str]] = {}
        self._recency = decay_weights(recent, 1.0)

    # --- learning ----------------------------------------------------------------------------------
    def pairs(self, session: Session, interaction: Interaction) -> list[Pair]:
        if interaction.type not in BASKET:
            return []
        b = interaction.item
        basket: list[str] = []
        for it in reversed(session.interactions):
            if it.type in BASKET and it.item != b and it.item not in basket:
                basket.append(it.item)
                if len(basket) == self.basket_size:
                    break
        return [p for a in basket for p in ((a, b, 1.0), (b, a, 1.0))]

    def learn_item(self, item: CatalogItem) -> None:
        """Record catalog complements in both directions, bounded per item."""
        for other in item.complements:
            if other == item.item_id:
                continue
            for a, b in ((other, item.item_id), (item.item_id, other)):
                lst = self.links.setdefault(a, [])
                if b not in lst:
                    lst.append(b)
                    del lst[:-self.max_links]

    def fit(self, sessions: Sequence[Sequence[str]]) -> None:
        """Public session logs carry no cart/order events: nothing to learn from item lists."""

    # --- scoring -----------------------------------------------------------------------------------
    def candidates(self, session: Session, k: int) -> list[Candidate]:
        return self.candidates_many([session], k)[0]

    def candidates_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        queries = [s.items[-self.recent:] for s in sessions]
        learned = score_rows(self.store, queries, self._recency, 0.0, k, self.name, self.reason_template)
        if not self.links:
            return learned
        out = []
        for query, found in zip(queries, learned):
            merged = {c.item: c for c in found}
            top = found[0].score if found else 1.0
            for j, item in enumerate(reversed(query)):
                for other in self.links.get(item, ()):
                    score = top * self.catalog_score * self._recency[j]
                    prev = merged.get(other)
                    if prev is None or prev.score < score:
                        merged[other] = Candidate(other, score, self.reason_template.format(item=item), self.name)
            out.append(sorted(merged.values(), key=lambda c: -c.score)[:k])
        return out

    def candidates_pool(self, sessions: Sequence[Session], k: int, pool: Pool, source: int) -> None:
        """:meth:`candidates_many` as pool rows; catalog links go through the object form (rare)."""
        if self.links:
            pool.add_candidates(source, self.candidates_many(sessions, k))
            return
        pool_rows(self.store, [s.items[-self.recent:] for s in sessions], self._recency, 0.0, k, pool, source,
                  self.reason_template, self.name)

    # --- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"store": self.store.state_dict(), "links": {a: list(b) for a, b in self.links.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.store.load_state_dict(state["store"])
        self.links = {a: list(b) for a, b in state["links"].items()}
