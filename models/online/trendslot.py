"""The trend slot: one place in every list for a rising category, until the list shows one by itself.

Lists built from the session (co-visitation, the session's categories) follow a shift in what
everyone wants only as fast as each user's own session moves there, and the hour-long trending
counts only after tens of minutes. While :class:`~models.candidates.rising.RisingCategories` names a
rising category and none of the ``shown`` first items of a list is in one, the best trending item of
the rising categories that the rules let through takes place ``slot``; everything from there moves
down one. Without a rising category (the usual case) a list is left exactly as ranked.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.base import Candidate
from models.candidates.rising import RisingCategories
from models.candidates.trending import Trending


def rising_candidates(rising: RisingCategories, trending: Trending, k: int) -> list[Candidate]:
    """The trending items of each rising category, strongest category first."""
    out: list[Candidate] = []
    for cat, lift in rising.rising():
        out += [Candidate(c.item, lift * c.score, f"rising now in {cat}", trending.name) for c in trending.top(k, cat)]
    return out


def with_trend_slot(ranked: list[Candidate], rising: list[Candidate], category_of: Mapping[str, str],
                    rising_cats: set[str], *, slot: int, shown: int, k: int) -> list[Candidate]:
    """``ranked`` with the first of ``rising`` (already filtered by the rules) at ``slot``, unless
    a rising category is already among the first ``shown`` items; at most ``k`` items."""
    if not rising or not rising_cats or slot < 0:
        return ranked
    if any(category_of.get(c.item) in rising_cats for c in ranked[:shown]):
        return ranked
    head = {c.item for c in ranked[:slot]}
    pick = next((c for c in rising if c.item not in head), None)
    if pick is None:
        return ranked
    rest = [c for c in ranked[slot:] if c.item != pick.item]
    return (ranked[:slot] + [pick] + rest)[:k]
