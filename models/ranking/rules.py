"""Business rules applied to a ranked list: each a small function, each switchable in :class:`Rules`.

Always on in the product: never a purchased item, never an out-of-stock item. Page rules (the
detail page's own needs, switched off for the papers' offline protocol where the next click is
often the item on screen): never the item on screen, no item the user has been shown too often,
and at most ``diversity_cap`` items per leaf category so one category cannot fill the list.

:meth:`Rules.keep` applies the same rules to a whole ranked batch held as arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from contracts.events import CatalogItem
from models.base import Candidate, Estimator, Session
from models.ranking.pool import ItemIds, Ranked, rank_in_group


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

    def keep(self, sessions: Sequence[Session], ranked: Ranked, k: int, facts: CatalogFacts | None,
             ids: ItemIds) -> Ranked:
        """:meth:`apply` for every session of a batch: ``ranked`` rows are grouped by query, best first."""
        q, item = ranked.query, ranked.item
        if k <= 0 or not len(q):
            return ranked.take(np.zeros(len(q), dtype=bool))
        ok = np.ones(len(q), dtype=bool)
        n, get = max(len(ids), 1), ids.get
        if self.current_item:
            cur = np.array([-1 if (j := get(s.current_item)) is None else j for s in sessions], dtype=np.int64)
            ok &= item != cur[q]
        banned: list[int] = []
        for qi, s in enumerate(sessions):
            if self.purchased:
                bought = s.purchased | {it.item for it in s.interactions if it.type == "order"}
                banned.extend(qi * n + j for j in map(get, bought) if j is not None)
            if self.overexposed and s.seen_counts:
                cap = self.max_seen
                banned.extend(qi * n + j for j in (get(i) for i, c in s.seen_counts.items() if c >= cap)
                              if j is not None)
        if banned:
            ok &= ~np.isin(q * n + item, np.asarray(banned, dtype=np.int64))
        if self.out_of_stock and facts is not None and facts.out_of_stock:
            gone = np.fromiter((j for j in map(get, facts.out_of_stock) if j is not None), dtype=np.int64)
            if len(gone):
                ok &= ~np.isin(item, gone)
        ranked = ranked.take(ok)
        q, item = ranked.query, ranked.item
        if self.diversity_cap is not None and facts is not None and facts.category_of and len(q):
            uniq, inv = np.unique(item, return_inverse=True)
            names, cat_of, cats = ids.items, facts.category_of, {}
            cat_u = np.fromiter((-1 if (c := cat_of.get(names[i])) is None else cats.setdefault(c, len(cats))
                                 for i in uniq.tolist()), dtype=np.int64, count=len(uniq))
            cat = cat_u[inv]
            # Rank within (query, category) in list order; unknown categories pass (as in cap_per_category).
            order = np.lexsort((np.arange(len(q)), cat, q))
            nth = np.empty(len(q), dtype=np.int64)
            nth[order] = rank_in_group((q * (len(cats) + 1) + cat + 1)[order])
            ranked = ranked.take((cat < 0) | (nth < self.diversity_cap))
        return ranked.take(rank_in_group(ranked.query) < k)
