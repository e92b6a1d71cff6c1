"""Business rules applied to a ranked list: each a small function, each switchable in :class:`Rules`.

Always on in the product: never a purchased item, never an out-of-stock item. Page rules (the
detail page's own needs, switched off for the papers' offline protocol where the next click is
often the item on screen): never the item on screen, no item the user has been shown too often,
and at most ``diversity_cap`` items per leaf category so one category cannot fill the list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from models.base import Candidate, Estimator, Session
from producers.schema import CatalogItem


class CatalogFacts:
    """What the rules need to know about items: leaf category and stock, from catalog upserts."""

    def __init__(self) -> None:
        self.category_of: dict[str, str] = {}
        self.out_of_stock: set[str] = set()

    def learn_item(self, item: CatalogItem) -> None:
        self.category_of[item.item_id] = item.leaf_category
        if item.in_stock:
            self.out_of_stock.discard(item.item_id)
        else:
            self.out_of_stock.add(item.item_id)

    def remove_item(self, item_id: str) -> None:
        self.category_of.pop(item_id, None)
        self.out_of_stock.discard(item_id)

    def state_dict(self) -> dict:
        return {"category_of": dict(self.category_of), "out_of_stock": sorted(self.out_of_stock)}

    def load_state_dict(self, state: dict) -> None:
        self.category_of = dict(state["category_of"])
        self.out_of_stock = set(state["out_of_stock"])


def drop_current_item(session: Session, candidates: Iterable[Candidate]) -> Iterator[Candidate]:
    current = session.current_item
    return (c for c in candidates if c.item != current)


def drop_purchased(session: Session, candidates: Iterable[Candidate]) -> Iterator[Candidate]:
    bought = session.purchased | {it.item for it in session.interactions if it.type == "order"}
    return (c for c in candidates if c.item not in bought)


def drop_out_of_stock(candidates: Iterable[Candidate], facts: CatalogFacts) -> Iterator[Candidate]:
    gone = facts.out_of_stock
    return (c for c in candidates if c.item not in gone)


def drop_overexposed(session: Session, candidates: Iterable[Candidate], max_seen: int) -> Iterator[Candidate]:
    seen = session.seen_counts
    return (c for c in candidates if seen.get(c.item, 0) < max_seen)


def cap_per_category(candidates: Iterable[Candidate], facts: CatalogFacts, cap: int) -> Iterator[Candidate]:
    """At most ``cap`` items per leaf category, in list order; items of unknown category pass."""
    per: dict[str, int] = {}
    for c in candidates:
        cat = facts.category_of.get(c.item)
        if cat is not None:
            n = per.get(cat, 0)
            if n >= cap:
                continue
            per[cat] = n + 1
        yield c


class Rules(Estimator):
    """Applies the switched-on rules in order and keeps the first ``k`` survivors."""

    def __init__(self, current_item: bool = True, purchased: bool = True, out_of_stock: bool = True,
                 overexposed: bool = True, max_seen: int = 20, diversity_cap: int | None = 4):
        self.current_item = current_item
        self.purchased = purchased
        self.out_of_stock = out_of_stock
        self.overexposed = overexposed
        self.max_seen = max_seen
        self.diversity_cap = diversity_cap

    @classmethod
    def for_protocol(cls, page_rules: bool) -> Rules:
        """Product rules, or (``page_rules=False``) only the rules that hold on any page."""
        if page_rules:
            return cls()
        return cls(current_item=False, overexposed=False, diversity_cap=None)

    def apply(self, session: Session, candidates: Iterable[Candidate], k: int,
              facts: CatalogFacts | None = None) -> list[Candidate]:
        out: Iterable[Candidate] = candidates
        if self.current_item:
            out = drop_current_item(session, out)
        if self.purchased:
            out = drop_purchased(session, out)
        if self.out_of_stock and facts is not None:
            out = drop_out_of_stock(out, facts)
        if self.overexposed and session.seen_counts:
            out = drop_overexposed(session, out, self.max_seen)
        if self.diversity_cap is not None and facts is not None:
            out = cap_per_category(out, facts, self.diversity_cap)
        result: list[Candidate] = []
        if k <= 0:
            return result
        for c in out:
            result.append(c)
            if len(result) == k:
                break
        return result
