"""A batch's candidates as flat numpy arrays: how a take window is fused and filtered without objects.

Scoring a window one :class:`~models.base.Candidate` at a time cost ~2 ms per session (about 60
Python objects per source list, fusion dicts, rule generators, and the garbage collector chasing
them). Here every source contributes rows ``(query, item, score, reason)`` for the whole batch;
:meth:`~models.ranking.fusion.WeightedFusion.rank_pool` and :meth:`~models.ranking.rules.Rules.keep`
work on those columns, and Candidates are built only for the final top ``k`` of each session.

Items are interned to dense ids by :class:`ItemIds` (one space for every source; a source that has
its own vocabulary, like a pair store, is translated through a cached array). Reasons are interned
per batch by :class:`Reasons` as ``(template, item)`` pairs and only formatted for the rows shown.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.base import Candidate
from models.vocab import Vocab

_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0, dtype=np.float64)


def top_order(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest ``scores``, best first; ties among those kept stay in position
    order (which of several tied at the cut-off is kept is up to ``argpartition``)."""
    if len(scores) > k:
        top = np.argpartition(-scores, k - 1)[:k]
        return top[np.argsort(-scores[top], kind="stable")]
    return np.argsort(-scores, kind="stable")


class ItemIds(Vocab):
    """Interns item strings to dense ids shared by every source of a recommender."""

    def __init__(self) -> None:
        super().__init__()
        # Translation arrays for vocabularies of other objects: {name: (vocab, ids of its entries)}.
        self._maps: dict[str, tuple[object, np.ndarray]] = {}

    def ids(self, names: Sequence[str]) -> np.ndarray:
        get = self.id
        return np.fromiter((get(n) for n in names), dtype=np.int64, count=len(names))

    def from_vocab(self, key: str, vocab) -> np.ndarray:
        """``out[j]`` = our id of ``vocab.items[j]``, extended as the vocabulary grows (append-only)."""
        cached = self._maps.get(key)
        if cached is None or cached[0] is not vocab:
            cached = (vocab, _EMPTY_I)
        arr = cached[1]
        if len(arr) < len(vocab):
            arr = np.concatenate([arr, self.ids(vocab.items[len(arr):])])
            self._maps[key] = (vocab, arr)
        return arr


class Reasons:
    """A batch's reason texts, interned: ``(template, item)`` pairs are formatted only when shown."""

    def __init__(self) -> None:
        self.keys: list[tuple[str, str | None]] = []
        self._index: dict[tuple[str, str | None], int] = {}

    def add(self, template: str, item: str | None = None) -> int:
        key = (template, item)
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self.keys)
            self.keys.append(key)
        return i

    def text(self, i: int) -> str:
        template, item = self.keys[i]
        return template if item is None else template.format(item=item)


class Pool:
    """Rows from every source for one batch of ``n_queries`` sessions, in source order.

    Within a source a query's rows come in that source's rank order, so the row number doubles as
    the tie-break the object path had (first proposed, first listed).
    """

    def __init__(self, n_queries: int, source_names: Sequence[str], ids: ItemIds):
        self.n_queries = n_queries
        self.source_names = list(source_names)
        self.ids = ids
        self.reasons = Reasons()
        self._parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, source: int, query: np.ndarray, item: np.ndarray, score: np.ndarray, reason: np.ndarray) -> None:
        if len(query):
            self._parts.append((source, query, item, score, reason))

    def add_candidates(self, source: int, lists: Sequence[Sequence[Candidate]]) -> None:
        """The object form of a source (one Candidate list per query), for sources without arrays."""
        lengths = [len(c) for c in lists]
        flat = [c for cands in lists for c in cands]
        if not flat:
            return
        add_reason = self.reasons.add
        self.add(source, np.repeat(np.arange(len(lists), dtype=np.int64), lengths),
                 self.ids.ids([c.item for c in flat]),
                 np.fromiter((c.score for c in flat), dtype=np.float64, count=len(flat)),
                 np.fromiter((add_reason(c.reason) for c in flat), dtype=np.int64, count=len(flat)))

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(query, item, score, reason, source)`` over all parts, source-major."""
        if not self._parts:
            return _EMPTY_I, _EMPTY_I, _EMPTY_F, _EMPTY_I, _EMPTY_I
        return (np.concatenate([p[1] for p in self._parts]).astype(np.int64, copy=False),
                np.concatenate([p[2] for p in self._parts]).astype(np.int64, copy=False),
                np.concatenate([p[3] for p in self._parts]).astype(np.float64, copy=False),
                np.concatenate([p[4] for p in self._parts]).astype(np.int64, copy=False),
                np.concatenate([np.full(len(p[1]), p[0], dtype=np.int64) for p in self._parts]))


class Ranked:
    """Fused rows, best first within each query: what the rules filter and the output is built from."""

    def __init__(self, query: np.ndarray, item: np.ndarray, score: np.ndarray, reason: np.ndarray,
                 source: np.ndarray):
        self.query, self.item, self.score, self.reason, self.source = query, item, score, reason, source

    def take(self, keep: np.ndarray) -> Ranked:
        return Ranked(self.query[keep], self.item[keep], self.score[keep], self.reason[keep], self.source[keep])

    def to_lists(self, pool: Pool) -> list[list[Candidate]]:
        """One Candidate list per query (the only objects the batch creates)."""
        out: list[list[Candidate]] = [[] for _ in range(pool.n_queries)]
        names, sources, text = pool.ids.items, pool.source_names, pool.reasons.text
        texts: dict[int, str] = {}
        for q, i, s, r, src in zip(self.query.tolist(), self.item.tolist(), self.score.tolist(),
                                   self.reason.tolist(), self.source.tolist()):
            t = texts.get(r)
            if t is None:
                t = texts[r] = text(r)
            out[q].append(Candidate(names[i], s, t, sources[src]))
        return out


def group_starts(sorted_keys: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in ``sorted_keys``."""
    if not len(sorted_keys):
        return _EMPTY_I
    return np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])


def rank_in_group(sorted_keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal values in ``sorted_keys``."""
    n = len(sorted_keys)
    if not n:
        return _EMPTY_I
    starts = group_starts(sorted_keys)
    first = np.zeros(n, dtype=np.int64)
    first[starts] = starts
    return np.arange(n) - np.maximum.accumulate(first)
