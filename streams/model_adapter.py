"""How the worker drives a recommender whose co-visitation is sharded across workers.

``models.recommender.StreamRecommender`` learns everything locally in ``learn_one`` (evaluation and
single process). The worker splits it: pair extraction where the session lives (``pairs`` of its
co-visitation and complementary sources), pair counting where the item lives (``item-stats``), and
``set_neighbors`` on every worker with the published lists. Every other source (trending, ...)
still learns locally from ``learn_one``. A recommender without such sources is driven through the
plain protocol: ``learn_one`` plus :func:`streams.covis.session_pairs` and, if it has one,
``set_neighbors``.
"""

from __future__ import annotations

import logging

from models.base import Candidate, Interaction, Session
from streams.covis import COMPLEMENTARY, SIMILAR, NeighborList, decode_neighbors, session_pairs

log = logging.getLogger(__name__)


def _sharded(source) -> bool:
    return source is not None and all(hasattr(source, m) for m in ("pairs", "set_neighbors"))


class ModelAdapter:
    def __init__(self, recommender, *, covis_window: int = 5):
        self.recommender = recommender
        self.covis_window = covis_window
        similar = getattr(recommender, "covisit", None)
        comp = getattr(recommender, "complementary", None)
        sources = getattr(recommender, "sources", None)
        self.similar = similar if _sharded(similar) else None
        self.complementary = comp if _sharded(comp) else None
        if self.similar is not None and isinstance(sources, dict):
            sharded = (self.similar, self.complementary)
            self._local = [s.learn_one for s in sources.values()
                           if s not in sharded and hasattr(s, "learn_one")]
            # Models learned beside the sources (the online ranker, profiles) have their own hook.
            online = getattr(recommender, "learn_online", None)
            if online is not None:
                self._local.append(online)
        else:
            self.similar = self.complementary = None
            self._local = [recommender.learn_one]
        self.version = (getattr(recommender, "version", None) or getattr(recommender, "name", None))

    @property
    def sharded(self) -> bool:
        return self.similar is not None

    def learn(self, before: Session, interaction: Interaction) -> None:
        for learn in self._local:
            learn(before, interaction)

    def pairs(self, before: Session, interaction: Interaction) -> list[tuple[str, str, float, str]]:
        if self.similar is None:
            return session_pairs(before, interaction.item, interaction.type, self.covis_window)
        out = [(a, b, w, SIMILAR) for a, b, w in self.similar.pairs(before, interaction)]
        if self.complementary is not None:
            out.extend((a, b, w, COMPLEMENTARY) for a, b, w in self.complementary.pairs(before, interaction))
        return out

    def set_neighbors(self, item: str, nb: NeighborList | None) -> None:
        if self.similar is not None:
            self.similar.set_neighbors(item, [] if nb is None else nb.similar)
            if self.complementary is not None:
                self.complementary.set_neighbors(item, [] if nb is None else nb.complementary)
            return
        setter = getattr(self.recommender, "set_neighbors", None)
        if setter is not None:
            setter(item, [] if nb is None else nb.similar)

    def set_neighbors_raw(self, item: str, value: bytes | None) -> None:
        """A published list as it arrived (encoded): a sharded source keeps it undecoded until it first
        reads the item's row. A users worker gets every item's list at every publish and scores only
        its sessions' items, so most lists are replaced before anyone reads them (issue #18)."""
        if value is None or self.similar is None:
            self.set_neighbors(item, None if value is None else _Encoded(item, value).list())
            return
        encoded = _Encoded(item, value)
        self.similar.set_neighbors(item, encoded.similar)
        if self.complementary is not None:
            self.complementary.set_neighbors(item, encoded.complementary)

    def item_lists(self, item: str, nb: NeighborList, k: int) -> tuple[list[Candidate], list[Candidate]]:
        """Similar and complementary lists for ``rec:item:{item}``, straight from the published lists.

        Not the model's ``similar_items``: that scores one item per call (~5-10 ms here, one sparse
        product each), and a publish tick refreshes thousands of items.
        """
        similar = [Candidate(i, w, f"viewed together with {item}", "covis") for i, w in nb.similar[:k]]
        complementary = [Candidate(i, w, f"bought with {item}", "complementary") for i, w in nb.complementary[:k]]
        return similar, complementary

    def learn_item(self, item) -> None:
        learn = getattr(self.recommender, "learn_item", None)
        if learn is not None:
            learn(item)

    def remove_item(self, item_id: str) -> None:
        remove = getattr(self.recommender, "remove_item", None)
        if remove is not None:
            remove(item_id)


class _Encoded:
    """One published list, decoded once when either of its sources first reads it."""

    __slots__ = ("item", "value", "_nb")

    def __init__(self, item: str, value: bytes):
        self.item, self.value, self._nb = item, value, None

    def list(self) -> NeighborList | None:
        if self._nb is None:
            try:
                self._nb = decode_neighbors(self.value)
            except Exception as exc:  # noqa: BLE001 - one bad list must not stop a scoring window
                log.error("skipping bad neighbour list of %s: %s", self.item, exc)
                self._nb = NeighborList(ts=0, popularity=0.0)
            self.value = b""
        return self._nb

    def similar(self) -> list[tuple[str, float]]:
        return self.list().similar

    def complementary(self) -> list[tuple[str, float]]:
        return self.list().complementary
