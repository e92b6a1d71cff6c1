"""Bounded, time-decayed item->item score rows: the storage behind co-visitation and co-purchase.

Rows live as sorted numpy arrays (``cols`` int32, ``vals`` float32) plus a small dict of pending
additions, merged when it grows or when the row is read; so a learn costs a dict update and a read
costs one numpy merge per dirty row. Each merge prunes a row that grew past ``slack * top_k`` back
to its ``top_k`` strongest entries, which bounds memory at ``slack * top_k`` entries per item while
leaving room for a new neighbour to accumulate before it competes.

Time decay uses growing weights (an event at ``ts`` adds ``w * 2 ** ((ts - ref) / half_life)``)
instead of decaying every stored value on every event; :class:`DecayClock` rebases ``ref`` (one
pass over the store) before the weights could overflow float32.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from models.vocab import Vocab

if TYPE_CHECKING:
    from models.base import Interaction, Session

_MAX_EXPONENT = 60.0  # 2**60 * counts stays far below float32's 3e38


def decay_factor(elapsed_ms: float, half_life_ms: float) -> float:
    """What a weight is worth ``elapsed_ms`` later: ``2 ** (-elapsed / half_life)``. The one decay rule
    of co-visitation, here and on the worker's item side (``streams/covis.py``)."""
    return 2.0 ** (-elapsed_ms / half_life_ms)


def top_k(weights: Mapping[str, float], k: int) -> list[tuple[str, float]]:
    """The ``k`` heaviest ``(key, weight)`` pairs, heaviest first; equal weights keep the mapping's
    order. The one top-K rule of co-visitation, here and on the worker's item side."""
    return heapq.nlargest(k, weights.items(), key=itemgetter(1))


class DecayClock:
    """Exponential time decay by growing weights; ``half_life_ms=None`` switches decay off.

    Scores stored in "reference units" are turned into values decayed to the latest event time by
    :meth:`to_now`. Data learned without a timestamp (``fit`` on dataset sessions) counts as "now".
    """

    def __init__(self, half_life_ms: float | None):
        self.half_life_ms = half_life_ms
        self.ref: float | None = None
        self.now: float | None = None

    def advance(self, ts: int | None) -> float:
        """Note an event time; returns the factor every stored value must be multiplied by (rebase)."""
        if ts is None or self.half_life_ms is None:
            return 1.0
        if self.ref is None:
            self.ref = self.now = float(ts)
            return 1.0
        if ts > self.now:
            self.now = float(ts)
        exponent = (self.now - self.ref) / self.half_life_ms
        if exponent <= _MAX_EXPONENT:
            return 1.0
        elapsed, self.ref = self.now - self.ref, self.now
        return decay_factor(elapsed, self.half_life_ms) if exponent < 1000 else 0.0

    def weight(self, ts: int | None) -> float:
        """Growing weight of an event at ``ts`` (``None``: now) in reference units."""
        if self.half_life_ms is None or self.ref is None:
            return 1.0
        t = self.now if ts is None else ts
        return 2.0 ** ((t - self.ref) / self.half_life_ms)

    def to_now(self) -> float:
        if self.half_life_ms is None or self.ref is None:
            return 1.0
        return decay_factor(self.now - self.ref, self.half_life_ms)

    def state(self) -> tuple[float | None, float | None]:
        return self.ref, self.now

    def load(self, state: tuple[float | None, float | None]) -> None:
        self.ref, self.now = state


_EMPTY_I = np.zeros(0, dtype=np.int32)
_EMPTY_F = np.zeros(0, dtype=np.float32)


class PairStore:
    """Rows ``a -> {b: score}`` with time decay and per-row top-K pruning."""

    def __init__(self, top_k: int = 200, half_life_ms: float | None = None, slack: float = 1.5,
                 merge_every: int = 16):
        self.top_k = top_k
        self.slack = slack
        self.merge_every = merge_every
        self.vocab = Vocab()
        self.clock = DecayClock(half_life_ms)
        self._cols: list[np.ndarray] = []
        self._vals: list[np.ndarray] = []
        self._pending: list[dict[int, float] | None] = []
        # Rows set from published lists but not read yet: row -> (the list or a callable giving it, the
        # clock's to_now() when it was set). A users worker receives every item's list at every publish
        # and scores only the items its sessions hold, so the work of a row waits for its first read.
        self._deferred: dict[int, tuple[Sequence[tuple[str, float]] | Callable[[], Sequence[tuple[str, float]]],
                                        float]] = {}

    # --- learning -------------------------------------------------------------------------
    def _ensure(self, i: int) -> None:
        while len(self._cols) <= i:
            self._cols.append(_EMPTY_I)
            self._vals.append(_EMPTY_F)
            self._pending.append(None)

    def add(self, a: str, b: str, weight: float, ts: int | None = None) -> None:
        self.add_pairs([(a, b, weight)], ts)

    def add_pairs(self, pairs: Iterable[tuple[str, str, float]], ts: int | None = None) -> None:
        """Add ``(a, b, weight)`` triples that happened at ``ts`` (one clock step for all of them)."""
        factor = self.clock.advance(ts)
        if factor != 1.0:
            self._rescale(factor)
        g = self.clock.weight(ts)
        vid = self.vocab.id
        pending = self._pending
        deferred = self._deferred
        for a, b, weight in pairs:
            ia, ib = vid(a), vid(b)
            if max(ia, ib) >= len(pending):
                self._ensure(max(ia, ib))
            if deferred and ia in deferred:  # _build, inlined: this loop runs per learned pair
                self._materialize(ia)
            pend = pending[ia]
            if pend is None:
                pend = pending[ia] = {}
            pend[ib] = pend.get(ib, 0.0) + weight * g
            if len(pend) >= self.merge_every:
                self._merge(ia)

    def add_many(self, rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> None:
        """Bulk form of :meth:`add` over vocabulary ids, all at the current time (offline ``fit``)."""
        if len(rows) == 0:
            return
        n = len(self.vocab)
        self._ensure(n - 1)
        m = sp.csr_matrix((weights * self.clock.weight(None), (rows, cols)), shape=(n, n))
        m.sum_duplicates()
        indptr, indices, data = m.indptr, m.indices, m.data
        for i in np.nonzero(np.diff(indptr))[0]:
            lo, hi = indptr[i], indptr[i + 1]
            self._merge(int(i), indices[lo:hi], data[lo:hi])

    def _merge(self, i: int, extra_cols: np.ndarray | None = None, extra_vals: np.ndarray | None = None) -> None:
        self._build(i)
        parts_c, parts_v = [self._cols[i]], [self._vals[i]]
        pend = self._pending[i]
        if pend:
            parts_c.append(np.fromiter(pend.keys(), dtype=np.int32, count=len(pend)))
            parts_v.append(np.fromiter(pend.values(), dtype=np.float64, count=len(pend)))
        self._pending[i] = None
        if extra_cols is not None:
            parts_c.append(extra_cols.astype(np.int32, copy=False))
            parts_v.append(extra_vals)
        cols = np.concatenate(parts_c)
        vals = np.concatenate(parts_v).astype(np.float64)
        uniq, inverse = np.unique(cols, return_inverse=True)
        if len(uniq) < len(cols):
            vals = np.bincount(inverse, weights=vals, minlength=len(uniq))
            cols = uniq
        elif len(cols) and not np.all(cols[:-1] < cols[1:]):
            order = np.argsort(cols, kind="stable")
            cols, vals = cols[order], vals[order]
        if len(cols) > self.slack * self.top_k:
            keep = np.sort(np.argpartition(-vals, self.top_k - 1)[:self.top_k])
            cols, vals = cols[keep], vals[keep]
        self._cols[i] = cols.astype(np.int32, copy=False)
        self._vals[i] = vals.astype(np.float32)

    def _rescale(self, factor: float) -> None:
        for i, (load, scale) in self._deferred.items():
            # Stored values are multiplied by factor; a deferred row divides by its scale instead.
            self._deferred[i] = (load, scale / factor if factor > 0 else float("inf"))
        for i, v in enumerate(self._vals):
            if len(v):
                self._vals[i] = (v * factor).astype(np.float32)
            pend = self._pending[i]
            if pend:
                for key in pend:
                    pend[key] *= factor

    # --- reading --------------------------------------------------------------------------
    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Merged row ``i`` (columns sorted ascending), in reference units."""
        if i >= len(self._cols):
            return _EMPTY_I, _EMPTY_F
        self._build(i)
        if self._pending[i]:
            self._merge(i)
        return self._cols[i], self._vals[i]

    def gather(self, rows: Sequence[int]) -> sp.csr_matrix:
        """The given rows as one CSR matrix (``len(rows)`` x vocabulary size), for batch scoring.

        Pending additions go in as extra entries that the CSR conversion sums, so reading never
        pays for a merge (a take window touches many freshly updated rows).
        """
        if self._deferred:  # first: building a row interns its neighbours, which widens the matrix
            for i in rows:
                self._build(i)
        n_cols = len(self.vocab)
        cols_parts, vals_parts, lengths = [], [], []
        p_rows: list[int] = []
        p_cols: list[int] = []
        p_vals: list[float] = []
        n_known = len(self._cols)
        for r, i in enumerate(rows):
            if i >= n_known:
                lengths.append(0)
                continue
            c = self._cols[i]
            cols_parts.append(c)
            vals_parts.append(self._vals[i])
            lengths.append(len(c))
            pend = self._pending[i]
            if pend:
                p_rows.extend([r] * len(pend))
                p_cols.extend(pend.keys())
                p_vals.extend(pend.values())
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.concatenate(cols_parts) if cols_parts else _EMPTY_I
        data = np.concatenate(vals_parts) if vals_parts else _EMPTY_F
        m = sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_cols))
        if p_rows:
            extra = sp.csr_matrix((np.asarray(p_vals, dtype=np.float32), (p_rows, p_cols)),
                                  shape=(len(rows), n_cols))
            m = (m + extra).tocsr()
        return m

    def neighbors(self, item: str) -> list[tuple[str, float]]:
        """The item's strongest ``top_k`` neighbours with scores decayed to the latest event, best first."""
        i = self.vocab.get(item)
        if i is None:
            return []
        cols, vals = self.row(i)
        scale = self.clock.to_now()
        items = self.vocab.items
        return [(items[c], v * scale) for c, v in top_k(dict(zip(cols.tolist(), vals.tolist())), self.top_k)]

    def set_neighbors(self, item: str,
                      neighbors: Iterable[tuple[str, float]] | Callable[[], Iterable[tuple[str, float]]]) -> None:
        """Replace the item's row with a list received from the worker that owns it, or with a callable
        that gives it. Either way the row is built when it is first read (:meth:`_materialize`), with the
        decay of this moment: a list replaced before anyone reads it costs nothing but this call."""
        if not callable(neighbors):
            neighbors = list(neighbors)
            if not neighbors and item not in self.vocab:
                return  # nothing to clear: interning it would only widen every scoring matrix
        i = self.vocab.id(item)
        self._ensure(len(self.vocab) - 1)
        self._cols[i], self._vals[i], self._pending[i] = _EMPTY_I, _EMPTY_F, None
        self._deferred[i] = (neighbors, self.clock.to_now())

    def _build(self, i: int) -> None:
        """Build row ``i`` if it was set from a list nobody has read yet."""
        if self._deferred and i in self._deferred:
            self._materialize(i)

    def _materialize(self, i: int) -> None:
        source, scale = self._deferred.pop(i)
        neighbors = list(source() if callable(source) else source)
        vid = self.vocab.id
        n = len(neighbors)
        cols = np.fromiter((vid(b) for b, _ in neighbors), dtype=np.int64, count=n)
        vals = np.fromiter((s for _, s in neighbors), dtype=np.float64, count=n)
        self._ensure(len(self.vocab) - 1)
        keep = cols != i
        if not keep.all():
            cols, vals = cols[keep], vals[keep]
        if not len(cols):
            return
        vals /= scale if scale > 0 else 1.0
        # A published list has unique items: sorting it is the whole merge (called ~once per item per
        # publish tick on every worker, so the general merge's unique/bincount was a visible cost).
        order = np.argsort(cols, kind="stable")
        cols, vals = cols[order], vals[order]
        if len(cols) > 1 and (cols[1:] == cols[:-1]).any() or len(cols) > self.slack * self.top_k:
            self._merge(i, cols, vals)
            return
        self._cols[i] = cols.astype(np.int32)
        self._vals[i] = vals.astype(np.float32)

    def is_empty(self, i: int) -> bool:
        """Row ``i`` holds nothing (scoring skips it)."""
        self._build(i)
        return i >= len(self._cols) or (not len(self._cols[i]) and not self._pending[i])

    def materialize_all(self) -> None:
        """Build every deferred row (before the store's whole state is read or counted)."""
        for i in list(self._deferred):
            self._materialize(i)

    # --- size and state ---------------------------------------------------------------------
    @property
    def nnz(self) -> int:
        self.materialize_all()
        return sum(len(c) for c in self._cols) + sum(len(p) for p in self._pending if p)

    def nbytes(self) -> int:
        self.materialize_all()
        return sum(c.nbytes + v.nbytes for c, v in zip(self._cols, self._vals))

    def state_dict(self) -> dict:
        self.materialize_all()
        m = self.gather(range(len(self._cols)))
        return {"items": list(self.vocab.items), "indptr": m.indptr, "indices": m.indices,
                "data": m.data, "clock": self.clock.state()}

    def load_state_dict(self, state: dict) -> None:
        self.vocab = Vocab(state["items"])
        self.clock.load(tuple(state["clock"]))
        indptr, indices, data = state["indptr"], state["indices"], state["data"]
        n = len(indptr) - 1
        self._cols = [np.asarray(indices[indptr[i]:indptr[i + 1]], dtype=np.int32) for i in range(n)]
        self._vals = [np.asarray(data[indptr[i]:indptr[i + 1]], dtype=np.float32) for i in range(n)]
        self._pending = [None] * n
        self._deferred = {}
        self._ensure(len(self.vocab) - 1)


class PairModel:
    """Learning and sharing of a model whose whole learned state is one :class:`PairStore` (``self.store``).

    The model says which pairs an interaction makes (:meth:`pairs`, run where the session lives);
    :meth:`add_pair` applies one where item ``a`` lives, and :meth:`neighbors` / :meth:`set_neighbors`
    carry a row between workers. Put it before :class:`~models.base.Estimator` in the bases.
    """

    store: PairStore

    def pairs(self, session: Session, interaction: Interaction) -> list[tuple[str, str, float]]:
        raise NotImplementedError

    def add_pair(self, a: str, b: str, weight: float, ts: int | None = None) -> None:
        """Apply one pair to item ``a``'s row (runs where item ``a`` lives)."""
        self.store.add(a, b, weight, ts or None)

    def learn_one(self, session: Session, interaction: Interaction) -> None:
        self.store.add_pairs(self.pairs(session, interaction), interaction.ts or None)

    def neighbors(self, item: str) -> list[tuple[str, float]]:
        return self.store.neighbors(item)

    def set_neighbors(self, item: str, neighbors: Sequence[tuple[str, float]]
                      | Callable[[], Sequence[tuple[str, float]]]) -> None:
        self.store.set_neighbors(item, neighbors)


def decay_weights(n: int, exponent: float) -> list[float]:
    """Recency weights ``1, 1/2**e, 1/3**e, ...`` for the ``n`` most recent positions."""
    return [1.0 / math.pow(j + 1, exponent) for j in range(n)]
