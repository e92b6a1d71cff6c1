"""Item co-visitation: "viewed together with X", the session-kNN-like workhorse of the stream.

Learning emits directed pairs between the new item and the session's previous ``window`` items,
weighted ``1 / distance`` (forward ``a -> b`` fully, backward ``b -> a`` times ``backward``), into a
:class:`~models.candidates.pairstore.PairStore` with time decay and per-item top-K pruning.

Learning is split so the worker can shard it: :meth:`pairs` runs where the user's session lives,
:meth:`add_pair` where item ``a`` lives (after a repartition by item), and :meth:`neighbors` /
:meth:`set_neighbors` ship finished neighbour lists between workers. :meth:`learn_one` does both
halves locally (evaluation, single worker).

Scoring is a recency-weighted sum over the session's last ``recent`` items of their neighbour rows,
each row divided by ``row_mass ** norm_exponent`` (the row's total mass is proportional to the
item's popularity, so a hub item cannot drown the rest); a whole take window is one sparse product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from models.base import Candidate, Estimator, Interaction, Session
from models.candidates.pairstore import PairModel, PairStore, decay_weights
from models.ranking.pool import Pool, top_order

WEEK_MS = 7 * 24 * 3600 * 1000

Pair = tuple[str, str, float]


class CoVisitation(PairModel, Estimator):
    name = "covisit"
    reason_template = "viewed together with {item}"

    def __init__(self, window: int = 8, backward: float = 0.5, top_k: int = 200,
                 half_life_ms: float | None = WEEK_MS, recent: int = 3, recency_exponent: float = 1.0,
                 norm_exponent: float = 0.75, types: tuple[str, ...] = ("view", "click", "cart", "order")):
        self.window = window
        self.backward = backward
        self.top_k = top_k
        self.half_life_ms = half_life_ms
        self.recent = recent
        self.recency_exponent = recency_exponent
        self.norm_exponent = norm_exponent
        self.types = types
        self.store = PairStore(top_k=top_k, half_life_ms=half_life_ms)
        self._recency = decay_weights(recent, recency_exponent)

    # --- learning, split for sharding ------------------------------------------------------------
    def _history(self, session: Session) -> list[str]:
        types = self.types
        return [it.item for it in session.interactions if it.type in types]

    def pairs(self, session: Session, interaction: Interaction) -> list[Pair]:
        """Pairs the new interaction forms with the session's recent items (runs where the session is)."""
        if interaction.type not in self.types:
            return []
        b = interaction.item
        history = self._history(session)[-self.window:]
        out: list[Pair] = []
        for d, a in enumerate(reversed(history), start=1):
            if a == b:
                continue
            w = 1.0 / d
            out.append((a, b, w))
            if self.backward:
                out.append((b, a, self.backward * w))
        return out

    def fit(self, sessions: Sequence[Sequence[str]]) -> None:
        """Offline bulk learning from whole sessions; same pairs as replaying them through learn_one."""
        vocab = self.store.vocab
        rows, cols, vals = [], [], []
        for s in sessions:
            if len(s) < 2:
                continue
            ids = np.fromiter((vocab.id(str(x)) for x in s), dtype=np.int64, count=len(s))
            for d in range(1, min(self.window, len(ids) - 1) + 1):
                a, b = ids[:-d], ids[d:]
                rows.append(a)
                cols.append(b)
                vals.append(np.full(len(a), 1.0 / d))
                if self.backward:
                    rows.append(b)
                    cols.append(a)
                    vals.append(np.full(len(a), self.backward / d))
        if not rows:
            return
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        keep = r != c
        self.store.add_many(r[keep], c[keep], v[keep])

    # --- scoring -----------------------------------------------------------------------------------
    def candidates(self, session: Session, k: int) -> list[Candidate]:
        return self.candidates_many([session], k)[0]

    def score_matrix(self, sessions: Sequence[Session]) -> ScoreMatrix | None:
        """Scores over every co-visited item for a batch (for rankers that fuse in bulk)."""
        return score_matrix(self.store, [self._history(s)[-self.recent:] for s in sessions], self._recency,
                            self.norm_exponent)

    def candidates_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        return score_rows(self.store, [self._history(s)[-self.recent:] for s in sessions], self._recency,
                          self.norm_exponent, k, self.name, self.reason_template)

    def candidates_pool(self, sessions: Sequence[Session], k: int, pool: Pool, source: int) -> None:
        """:meth:`candidates_many` as pool rows (no Candidate objects)."""
        pool_rows(self.store, [self._history(s)[-self.recent:] for s in sessions], self._recency,
                  self.norm_exponent, k, pool, source, self.reason_template, self.name)

    # --- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"store": self.store.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.store.load_state_dict(state["store"])


@dataclass
class ScoreMatrix:
    """A batch's co-visitation scores: ``r[i, col]`` for query ``i`` over vocabulary columns.

    ``g`` holds the gathered, normalised rows and ``own_u`` / ``own_w`` each query's items (row
    numbers in ``g``, -1 = none) with their recency weights, from which reasons are recovered.
    """

    r: sp.csr_matrix
    g: sp.csr_matrix
    own_u: np.ndarray
    own_w: np.ndarray
    rows: list[int]

    keys: np.ndarray | None = None
    row_ids: np.ndarray | None = None

    def contributors(self, query: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Vocabulary id of the query item that gave each ``(query[n], cols[n])`` its largest share."""
        if self.keys is None:  # rows have sorted columns, so row * n_cols + col is a sorted key
            g = self.g
            self.keys = np.repeat(np.arange(g.shape[0], dtype=np.int64), np.diff(g.indptr)) * g.shape[1] + g.indices
            self.row_ids = np.asarray(self.rows, dtype=np.int64)
        best = _strongest_contributor(self.g, self.keys, self.own_u[query], self.own_w[query], cols)
        return self.row_ids[best]


def score_matrix(store: PairStore, queries: Sequence[Sequence[str]], recency: Sequence[float],
                 norm_exponent: float) -> ScoreMatrix | None:
    """Recency-weighted sum of normalised rows for every query (item list, oldest first): one sparse product."""
    vocab = store.vocab
    row_of: dict[int, int] = {}
    q_rows, q_cols, q_vals = [], [], []
    width = max(len(recency), 1)
    own_u = np.full((len(queries), width), -1, dtype=np.int64)
    own_w = np.zeros((len(queries), width))
    for qi, items in enumerate(queries):
        for j, item in enumerate(reversed(items)):
            v = vocab.get(item)
            if v is None or store.is_empty(v):
                continue  # an empty row adds nothing (and a sharded worker interns items it never scores)
            u = row_of.setdefault(v, len(row_of))
            q_rows.append(qi)
            q_cols.append(u)
            q_vals.append(recency[j])
            own_u[qi, j] = u
            own_w[qi, j] = recency[j]
    if not row_of:
        return None
    g = store.gather(list(row_of))
    mass = np.asarray(g.sum(axis=1)).ravel()
    mass[mass <= 0] = 1.0
    g = (sp.diags(mass ** -norm_exponent) @ g).tocsr()
    g.sort_indices()
    q = sp.csr_matrix((q_vals, (q_rows, q_cols)), shape=(len(queries), len(row_of)))
    r = (q @ g).tocsr()
    r.sort_indices()
    return ScoreMatrix(r, g, own_u, own_w, list(row_of))


def top_k_rows(r: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions in ``r.data`` of each row's ``k`` best entries (rows concatenated), and per-row counts."""
    indptr, data = r.indptr, r.data
    picks: list[np.ndarray] = []
    lengths = np.zeros(r.shape[0], dtype=np.int64)
    for qi in range(r.shape[0]):
        lo, hi = indptr[qi], indptr[qi + 1]
        if lo == hi:
            continue
        top = top_order(data[lo:hi], k)
        picks.append(top + lo)
        lengths[qi] = len(top)
    return (np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)), lengths


def score_rows(store: PairStore, queries: Sequence[Sequence[str]], recency: Sequence[float],
               norm_exponent: float, k: int, source: str, reason_template: str) -> list[list[Candidate]]:
    """Top ``k`` candidates per query, each with the reason naming its strongest query item."""
    m = score_matrix(store, queries, recency, norm_exponent)
    if m is None:
        return [[] for _ in queries]
    sel, lengths = top_k_rows(m.r, k)
    sel_cols = m.r.indices[sel]
    best = m.contributors(np.repeat(np.arange(len(queries)), lengths), sel_cols)
    names = store.vocab.items
    reasons = {u: reason_template.format(item=names[u]) for u in set(best.tolist())}
    flat = [Candidate(names[c], sc, reasons[u], source)
            for c, sc, u in zip(sel_cols.tolist(), m.r.data[sel].tolist(), best.tolist())]
    out: list[list[Candidate]] = []
    at = 0
    for n in lengths.tolist():
        out.append(flat[at:at + n])
        at += n
    return out


def pool_rows(store: PairStore, queries: Sequence[Sequence[str]], recency: Sequence[float], norm_exponent: float,
              k: int, pool: Pool, source: int, reason_template: str, key: str) -> None:
    """:func:`score_rows` into ``pool`` (``key`` names the store's vocabulary in ``pool.ids``)."""
    m = score_matrix(store, queries, recency, norm_exponent)
    if m is None:
        return
    sel, lengths = top_k_rows(m.r, k)
    if not len(sel):
        return
    cols = m.r.indices[sel]
    query = np.repeat(np.arange(len(queries), dtype=np.int64), lengths)
    best = m.contributors(query, cols)
    uniq, inv = np.unique(best, return_inverse=True)
    names, add = store.vocab.items, pool.reasons.add
    reason = np.array([add(reason_template, names[u]) for u in uniq.tolist()], dtype=np.int64)[inv]
    pool.add(source, query, pool.ids.from_vocab(key, store.vocab)[cols], m.r.data[sel], reason)


def _strongest_contributor(g: sp.csr_matrix, keys: np.ndarray, own_u: np.ndarray, own_w: np.ndarray,
                           cols: np.ndarray) -> np.ndarray:
    """For each (query, candidate column), the gathered row (query item) that gave it the largest share.

    ``own_u`` / ``own_w``: per selected candidate, its query's items (row numbers in ``g``, -1 = none)
    and recency weights; ``keys``: the sorted ``row * n_cols + col`` of every entry of ``g``.
    """
    n_cols = g.shape[1]
    contrib = np.zeros(own_u.shape)
    for j in range(own_u.shape[1]):
        u = own_u[:, j]
        want = np.where(u >= 0, u, 0) * n_cols + cols
        pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
        hit = (u >= 0) & (keys[pos] == want) if len(keys) else np.zeros(len(u), dtype=bool)
        contrib[:, j] = np.where(hit, g.data[pos] if len(keys) else 0.0, 0.0) * own_w[:, j]
    best = contrib.argmax(axis=1)
    return own_u[np.arange(len(own_u)), best]
