"""Interning of item ids (strings) to dense ints, the one vocabulary every model's arrays are indexed by.

``items`` and ``index`` are plain public attributes on purpose: scoring loops bind ``vocab.index``
(or ``vocab.index.get``) once and then pay only a dict lookup per item, which a method call per item
would roughly double. Treat both as read-only outside this class; :meth:`Vocab.id` is the only writer.
"""

from __future__ import annotations

from collections.abc import Iterable

# Attribute names of the three classes this one replaced (pairstore.Vocab, ranking.pool.ItemIds,
# baselines.index.ItemVocab), so a whole model pickled before the merge still loads.
_LEGACY = {"_index": "index", "ids": "index", "names": "items"}


class Vocab:
    """Item id (str) <-> dense int, ids ``0..n-1`` in order of first sight; append-only."""

    def __init__(self, items: Iterable[str] = ()):
        self.items: list[str] = []
        self.index: dict[str, int] = {}
        for item in items:
            self.id(item)

    def id(self, item: str) -> int:
        """The item's id, interning it if new."""
        i = self.index.get(item)
        if i is None:
            i = self.index[item] = len(self.items)
            self.items.append(item)
        return i

    def get(self, item: str) -> int | None:
        """The item's id, or ``None`` if it was never interned."""
        return self.index.get(item)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, item: str) -> bool:
        return item in self.index

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({_LEGACY.get(k, k): v for k, v in state.items()})
