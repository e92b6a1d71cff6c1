"""Which list a detail page shows: pure functions over the decoded Redis lists, no I/O.

The worker writes three kinds of lists (``contracts/redis_keys.py``): the user's list, computed for the item the
user last interacted with (its ``context_item``); the page item's list (similar + complementary, for
anyone); and trending. A page asks for (user, page item); the rules, in order:

1. the user's list alone when it was computed for this very item, or is younger than ``fresh_ms``
   (the user's next event is already on its way, and the list reflects their whole session);
2. otherwise the user's list interleaved with the page item's list, the page item's entries first,
   because an older list was computed for another page;
3. anonymous visitors, or users without a list, get the page item's list;
4. an item without a list gets trending.

Whatever the source, the page's own item is never shown, duplicates are dropped, and a short list is
topped up from the next source (item list, then trending), so a page always gets ``k`` entries when
Redis holds that many.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from itertools import zip_longest

from contracts.redis_keys import RecItem, RecList

#: where a served list came from; ``cache`` and ``none`` only when Redis is unavailable
SOURCES = ("user", "blend", "item", "trending", "cache", "none")


@dataclass(frozen=True, slots=True)
class Recommendation:
    item: str
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class Recommendations:
    """One detail page's list, with where it came from and how fresh it is."""

    items: tuple[Recommendation, ...]
    source: str
    context_item: str | None = None
    model_version: str | None = None
    list_id: str | None = None
    variant: str | None = None
    #: time of the event the list answers (epoch ms) and its age when served
    event_ts: int | None = None
    freshness_ms: float | None = None
    #: True when Redis could not be read and this is a fallback
    degraded: bool = False

    def as_dict(self) -> dict:
        return {
            "items": [{"item": r.item, "score": r.score, "reason": r.reason} for r in self.items],
            "source": self.source, "context_item": self.context_item, "model_version": self.model_version,
            "list_id": self.list_id, "variant": self.variant, "event_ts": self.event_ts,
            "freshness_ms": self.freshness_ms, "degraded": self.degraded,
        }

    def limited(self, k: int, exclude: str | None = None, degraded: bool | None = None,
                source: str | None = None) -> Recommendations:
        items = tuple(r for r in self.items if r.item != exclude)[:k]
        return replace(self, items=items, degraded=self.degraded if degraded is None else degraded,
                       source=source or self.source)


def item_entries(rec: RecList) -> list[RecItem]:
    """An item's list: similar and complementary interleaved, so 'bought with' shows near the top."""
    return list(_interleave(rec.items, rec.complementary))


def choose(user: RecList | None, item: RecList | None, trending: RecList | None, *, page_item: str | None,
           k: int, now_ms: int, fresh_ms: float) -> Recommendations:
    """Apply the rules of the module docstring; pure, so unit tests cover every branch."""
    if user is not None and user.items:
        fresh = (page_item is None or user.context_item == page_item
                 or now_ms - user.event_ts <= fresh_ms)
        if fresh or item is None:
            primary, source, entries = user, "user", user.items
        else:
            primary, source, entries = user, "blend", _interleave(_interleave(item.items, item.complementary),
                                                                  user.items)
    elif item is not None and (item.items or item.complementary):
        primary, source, entries = item, "item", _interleave(item.items, item.complementary)
    elif trending is not None:
        primary, source, entries = trending, "trending", trending.items
    else:
        return Recommendations(items=(), source="none")
    # lazily: fillers are read only when the first source runs short of k, which is rare
    fillers: list[Iterable[RecItem]] = []
    if item is not None and source == "user":
        fillers.append(_interleave(item.items, item.complementary))
    if trending is not None and source != "trending":
        fillers.append(trending.items)
    picked = _take(entries, fillers, exclude=page_item, k=k)
    return Recommendations(
        items=picked, source=source, context_item=primary.context_item, model_version=primary.model_version,
        list_id=primary.list_id, variant=primary.variant, event_ts=primary.event_ts,
        freshness_ms=float(max(0, now_ms - primary.event_ts)))


def _take(entries: Iterable[RecItem], fillers: list[Iterable[RecItem]], exclude: str | None,
          k: int) -> tuple[Recommendation, ...]:
    out: list[Recommendation] = []
    seen = {exclude} if exclude else set()
    for source in (entries, *fillers):
        for e in source:
            if len(out) >= k:
                return tuple(out)
            if e.item in seen:
                continue
            seen.add(e.item)
            out.append(Recommendation(e.item, float(e.score), e.reason))
    return tuple(out)


def _interleave(first: Iterable[RecItem], second: Iterable[RecItem]) -> Iterator[RecItem]:
    if not second:  # most item lists have no complementary entries
        yield from first
        return
    for a, b in zip_longest(first, second):
        if a is not None:
            yield a
        if b is not None:
            yield b
