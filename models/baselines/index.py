"""Growable session store shared by the neighbourhood baselines: item vocabulary, sessions, inverted lists.

Items are strings outside and dense ints inside. Sessions get ids in order of their first click, so a
larger id means a more recent session, which is what "the M most recent neighbour sessions" needs.
Everything can be bulk-built from whole sessions (``build``) and then grown one click at a time
(``add_click``), so the same object serves the offline protocol and the stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from models.vocab import Vocab


def natural_key(item: str) -> tuple[int, int | str]:
    """Numeric ids order as numbers (dataset ids are ints passed as str), others after them as text."""
    return (0, int(item)) if item.isdigit() else (1, item)


class GrowArray:
    """An append-only numpy vector with amortised O(1) appends; ``view()`` never copies."""

    __slots__ = ("buf", "n")

    def __init__(self, dtype: type = np.int32, data: np.ndarray | None = None) -> None:
        self.buf = np.empty(8, dtype=dtype) if data is None else np.asarray(data, dtype=dtype)
        self.n = 0 if data is None else len(self.buf)

    def append(self, value: float) -> None:
        if self.n == len(self.buf):
            grown = np.empty(max(8, 2 * self.n), dtype=self.buf.dtype)
            grown[: self.n] = self.buf[: self.n]
            self.buf = grown
        self.buf[self.n] = value
        self.n += 1

    def view(self) -> np.ndarray:
        return self.buf[: self.n]

    def tail(self, m: int) -> np.ndarray:
        return self.buf[max(0, self.n - m): self.n]

    def __len__(self) -> int:
        return self.n


# Old pickles of a SessionIndex name this class; it was the same vocabulary under other attribute
# names, which Vocab.__setstate__ maps.
ItemVocab = Vocab


class SessionIndex:
    """Sessions as unique-item lists plus item -> session inverted lists, growable click by click.

    Per session: ``items[s]`` (distinct items, first-occurrence order), ``last[s]`` (1-based click
    position of each one's last occurrence, for STAN), ``n_unique[s]``. Per item: ``inv[i]`` (ascending
    session ids containing it) and ``clicks[i]``. ``open`` maps a stream key (the session's user id) to
    its current session id, so a session's own clicks can be left out of its neighbours.
    """

    def __init__(self) -> None:
        self.vocab = Vocab()
        self.items: list[list[int]] = []
        self.last: list[list[int]] = []
        self.n_clicks: list[int] = []
        self.n_unique = GrowArray(np.int32)
        self.clicks = GrowArray(np.float64)
        self.support = GrowArray(np.int32)   # sessions holding each item = len(inv[i])
        self.inv: list[GrowArray] = []
        self.open: dict[str, int] = {}
        self.version = 0

    @property
    def n_sessions(self) -> int:
        return len(self.items)

    @property
    def n_items(self) -> int:
        return len(self.vocab)

    def item_id(self, item: str) -> int | None:
        return self.vocab.index.get(item)

    def _new_item(self, item: str) -> int:
        idx = self.vocab.id(item)
        if idx == len(self.inv):
            self.inv.append(GrowArray(np.int32))
            self.clicks.append(0.0)
            self.support.append(0)
        return idx

    def build(self, sessions: Iterable[Sequence[str]]) -> None:
        """Bulk-add whole sessions (oldest first); far faster than one ``add_click`` per click."""
        sessions = [s for s in sessions if len(s)]
        # Ids in natural order, so ties broken "by smaller id" match the datasets' integer ids.
        for item in sorted({i for s in sessions for i in s} - self.vocab.index.keys(), key=natural_key):
            self._new_item(item)
        ids = self.vocab.index
        first_sid = self.n_sessions
        pair_items: list[int] = []
        pair_sids: list[int] = []
        click_ids: list[int] = []
        for offset, sess in enumerate(sessions):
            last: dict[int, int] = {}
            for pos, item in enumerate(sess, start=1):
                last[ids[item]] = pos
            uniq = list(last)
            self.items.append(uniq)
            self.last.append(list(last.values()))
            self.n_clicks.append(len(sess))
            self.n_unique.append(len(uniq))
            pair_items.extend(uniq)
            pair_sids.extend([first_sid + offset] * len(uniq))
            click_ids.extend(ids[i] for i in sess)
        self.clicks.view()[:] += np.bincount(np.asarray(click_ids, dtype=np.int64), minlength=self.n_items)
        p_items = np.asarray(pair_items, dtype=np.int64)
        p_sids = np.asarray(pair_sids, dtype=np.int32)
        order = np.argsort(p_items, kind="stable")   # stable keeps session ids ascending per item
        bounds = np.searchsorted(p_items[order], np.arange(self.n_items + 1))
        sorted_sids = p_sids[order]
        for item in range(self.n_items):
            lo, hi = bounds[item], bounds[item + 1]
            if hi > lo:
                old = self.inv[item]
                self.inv[item] = GrowArray(np.int32, np.concatenate([old.view(), sorted_sids[lo:hi]]))
                self.support.buf[item] = len(self.inv[item])
        self.version += 1

    def add_click(self, key: str, item: str, new_session: bool) -> int:
        """Record one click of stream session ``key``; returns the session id it went to."""
        idx = self.vocab.index.get(item)
        if idx is None:
            idx = self._new_item(item)
        sid = self.open.get(key)
        if sid is None or new_session:
            sid = self.open[key] = self.n_sessions
            self.items.append([])
            self.last.append([])
            self.n_clicks.append(0)
            self.n_unique.append(0)
        self.n_clicks[sid] += 1
        uniq = self.items[sid]
        try:
            self.last[sid][uniq.index(idx)] = self.n_clicks[sid]
        except ValueError:
            uniq.append(idx)
            self.last[sid].append(self.n_clicks[sid])
            self.n_unique.buf[sid] += 1
            self.inv[idx].append(sid)
            self.support.buf[idx] += 1
        self.clicks.buf[idx] += 1.0
        self.version += 1
        return sid

    def gather(self, sids: np.ndarray, with_last: bool = False) -> tuple[np.ndarray, ...]:
        """Concatenated distinct items of sessions ``sids`` and the row each came from (and last positions)."""
        lens = self.n_unique.view()[sids]
        total = int(lens.sum())
        items_of = self.items
        flat = np.fromiter((i for s in sids.tolist() for i in items_of[s]), dtype=np.int64, count=total)
        rows = np.repeat(np.arange(len(sids)), lens)
        if not with_last:
            return flat, rows
        last_of = self.last
        pos = np.fromiter((p for s in sids.tolist() for p in last_of[s]), dtype=np.float64, count=total)
        return flat, rows, pos
