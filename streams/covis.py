"""Item co-visitation, split in two halves that run on different partitions.

User side (events agent, partitioned by user): :func:`session_pairs` turns one event into weighted
item pairs, and :class:`ItemDeltas` sums a take window's pairs and view counts per *item*; the
repartition topic then carries one :class:`DeltaBatch` per item *partition* per window (every item
in it hashes to that partition), not one message per pair or per item: produced messages are the
worker's dominant cost.

Item side (item-updates agent, partitioned by item): :class:`ItemStats` is the value of the
item-keyed ``item-stats`` table: decayed popularity and decayed neighbour weights, pruned to the top
K. Decay is *forward* decay (weights are stored scaled by ``2**((ts - base)/half_life)``), so adding a
pair is O(1) instead of rescaling every neighbour on every update.
"""

from __future__ import annotations

import msgspec

from models.base import Session
from models.candidates.pairstore import decay_factor, top_k

SIMILAR = "s"        # viewed together (view/click -> view/click)
COMPLEMENTARY = "c"  # carted or bought together
_CART_LIKE = frozenset({"cart", "order"})
_RESCALE_EXP = 40.0   # renormalise before 2**exp loses float precision


def session_pairs(session: Session, item: str, type_: str, window: int):
    """Pairs ``(a, b, weight, kind)`` created by interacting with ``item`` after ``session``.

    Pairs join ``item`` with the previous ``window`` distinct items, weighted ``1/distance``
    (both directions). Cart/order events also pair with earlier cart/order items as complements.
    """
    out = []
    seen = {item}
    dist = 0
    cart_like = type_ in _CART_LIKE
    for prev in reversed(session.interactions):
        other = prev.item
        if other in seen:
            continue
        seen.add(other)
        dist += 1
        if dist <= window:
            w = 1.0 / dist
            out.append((other, item, w, SIMILAR))
            out.append((item, other, w, SIMILAR))
        if cart_like and prev.type in _CART_LIKE:
            out.append((other, item, 1.0, COMPLEMENTARY))
            out.append((item, other, 1.0, COMPLEMENTARY))
        if dist >= window and not cart_like:
            break
    return out


class ItemDelta(msgspec.Struct, array_like=True):
    """One repartition message: what a take window adds to one item (event-time ``ts``)."""

    ts: int = 0
    views: float = 0.0
    similar: dict[str, float] = {}
    complementary: dict[str, float] = {}


class SourcedDelta(msgspec.Struct, array_like=True):
    """One event's share of a window's deltas for one item, with the event's place in the events topic.

    The item side applies it only if ``offset`` is beyond the item's watermark for ``partition``
    (:attr:`ItemStats.sources`): an event processed again after a crash adds nothing the second time,
    however the windows around it were cut.
    """

    partition: int
    offset: int
    delta: ItemDelta


class ItemDeltas:
    """Accumulates a window's pairs and views per item: per event when :meth:`begin` is called for
    each event (the worker does), else summed per item (``by_item``)."""

    def __init__(self) -> None:
        self.by_item: dict[str, ItemDelta] = {}
        #: ``(event, {item: delta})`` per event, in the order the window processed them.
        self.by_event: list[tuple[object, dict[str, ItemDelta]]] = []
        self._current: dict[str, ItemDelta] | None = None

    def begin(self, event: object) -> None:
        """Start ``event``'s contributions: the following ``add_*`` calls are its own."""
        self._current = {}
        self.by_event.append((event, self._current))

    def _get(self, item: str, ts: int) -> ItemDelta:
        target = self.by_item if self._current is None else self._current
        d = target.get(item)
        if d is None:
            d = target[item] = ItemDelta(ts=ts)
        elif ts > d.ts:
            d.ts = ts
        return d

    def add_view(self, item: str, ts: int, weight: float = 1.0) -> None:
        self._get(item, ts).views += weight

    def add_pair(self, a: str, b: str, w: float, ts: int, kind: str = SIMILAR) -> None:
        d = self._get(a, ts)
        target = d.similar if kind == SIMILAR else d.complementary
        target[b] = target.get(b, 0.0) + w

    def batches(self, partitions: int, partition_of, source_of) -> dict[int, DeltaBatch]:
        """One :class:`DeltaBatch` per item partition (``partition_of(item, partitions)``).

        ``source_of(event)`` gives an event's ``(partition, offset)`` in the events topic; the shares
        of events without one are summed into ``items``.
        """
        out: dict[int, DeltaBatch] = {}

        def batch(item: str) -> DeltaBatch:
            p = partition_of(item, partitions)
            b = out.get(p)
            if b is None:
                b = out[p] = DeltaBatch({})
            return b

        for item, delta in self.by_item.items():
            batch(item).items[item] = delta
        for event, deltas in self.by_event:
            source = source_of(event)
            for item, delta in deltas.items():
                b = batch(item)
                if source is None:
                    summed = b.items.get(item)
                    b.items[item] = delta if summed is None else _sum(summed, delta)
                else:
                    b.sourced.setdefault(item, []).append(SourcedDelta(source[0], source[1], delta))
        return out

    def __len__(self) -> int:
        items = set(self.by_item)
        for _, deltas in self.by_event:
            items.update(deltas)
        return len(items)


def _sum(a: ItemDelta, b: ItemDelta) -> ItemDelta:
    out = ItemDelta(ts=max(a.ts, b.ts), views=a.views + b.views, similar=dict(a.similar),
                    complementary=dict(a.complementary))
    for target, adds in ((out.similar, b.similar), (out.complementary, b.complementary)):
        for k, w in adds.items():
            target[k] = target.get(k, 0.0) + w
    return out


class DeltaBatch(msgspec.Struct, array_like=True):
    """One repartition message: a window's deltas for the items of one item partition, summed per
    item (``items``) and per event (``sourced``: what the worker sends, exact under re-delivery)."""

    items: dict[str, ItemDelta]
    sourced: dict[str, list[SourcedDelta]] = {}

    def deltas(self):
        """Every ``(item, delta)`` of the batch, summed and per event alike."""
        yield from self.items.items()
        for item, shares in self.sourced.items():
            for share in shares:
                yield item, share.delta


def encode_batches(batch: DeltaBatch, max_bytes: int = 512 * 1024) -> list[bytes]:
    """``batch`` encoded as one or more records of at most about ``max_bytes`` (Kafka refuses records
    over its request size, and a large window's deltas for one partition can pass it). It is split by
    item: all of one item's shares stay in one record, in order, which is all the item side needs."""
    data = encode(batch)
    items = list(batch.items) + [i for i in batch.sourced if i not in batch.items]
    if len(data) <= max_bytes or len(items) < 2:
        return [data]
    half = set(items[: len(items) // 2])
    parts = [DeltaBatch({i: d for i, d in batch.items.items() if (i in half) == side},
                        {i: s for i, s in batch.sourced.items() if (i in half) == side}) for side in (True, False)]
    return [chunk for part in parts for chunk in encode_batches(part, max_bytes)]


class NeighborList(msgspec.Struct, array_like=True):
    """What every worker's scorer gets for one item (value of the global ``neighbors`` table)."""

    ts: int
    popularity: float
    similar: list[tuple[str, float]] = []
    complementary: list[tuple[str, float]] = []
    #: Wall-clock ms of the publish (0 in lists written before it existed): the list's version.
    published: int = 0


class NeighborHead(msgspec.Struct, array_like=True):
    """A :class:`NeighborList` read without its lists (kept as raw msgpack): what a users worker needs
    of every published list at once (popularity, version); the lists are decoded on first use."""

    ts: int
    popularity: float
    similar: msgspec.Raw = msgspec.Raw(b"\x90")
    complementary: msgspec.Raw = msgspec.Raw(b"\x90")
    published: int = 0


class NeighborPack(msgspec.Struct, array_like=True):
    """One record of the neighbour broadcast: the encoded lists (None = the item is gone) of one
    publish slice. Every users worker reads every pack; Faust's changelog path costs about 0.5 ms per
    record whatever its size, so a slice of lists in one record costs what one list did."""

    published: int
    lists: dict[str, bytes | None]


class ItemStats(msgspec.Struct, array_like=True):
    """Item-side state. Stored weights are forward-decayed relative to ``base`` (event time, ms)."""

    base: int = 0
    ts: int = 0
    popularity: float = 0.0
    similar: dict[str, float] = {}
    complementary: dict[str, float] = {}
    #: Offset (in the item's item-updates partition) of the last batch applied: a batch re-delivered
    #: after a crash between this row's changelog write and the offset commit is not applied twice.
    offset: int = -1
    #: events partition -> offset of the last event applied to this item (its :class:`SourcedDelta`):
    #: events re-processed after a crash of the user side are not applied twice. An item gets one
    #: partition's events in offset order, so one number per partition is the whole memory.
    sources: dict[int, int] = {}
    #: The half-life the weights are stored under (0: a row written before rows recorded it, counted
    #: under the one the worker started with). A published tuning configuration can change the
    #: policy's; a row keeps its own until its next update re-expresses it (:meth:`CovisPolicy.apply`).
    half_life_ms: float = 0.0


class CovisPolicy:
    """Decay and pruning of the item side."""

    def __init__(self, *, half_life_ms: float = 7 * 86400_000.0, top_k: int = 200,
                 popularity_half_life_ms: float = 3600_000.0):
        self.half_life_ms = half_life_ms
        self.top_k = top_k
        self.popularity_half_life_ms = popularity_half_life_ms
        self.legacy_half_life_ms = half_life_ms  # what rows without a recorded half-life were counted under

    def retune(self, *, half_life_ms: float | None = None, top_k: int | None = None) -> None:
        """A published tuning configuration's decay and pruning, for pairs counted from now on: rows
        already counted keep their weights (re-expressed at their next update), and are pruned to the
        new ``top_k`` when they next grow past twice it; published lists take the new ``top_k`` at once."""
        if half_life_ms is not None:
            if half_life_ms <= 0:
                raise ValueError(f"half-life must be > 0 ms, got {half_life_ms}")
            self.half_life_ms = float(half_life_ms)
        if top_k is not None:
            if top_k < 1:
                raise ValueError(f"top_k must be >= 1, got {top_k}")
            self.top_k = int(top_k)

    def row_half_life(self, stats: ItemStats) -> float:
        return stats.half_life_ms or self.legacy_half_life_ms

    @classmethod
    def from_settings(cls, settings) -> CovisPolicy:
        """The worker's item side: FRESHREC_COVIS_HALF_LIFE_S, FRESHREC_COVIS_TOP_K and the trending
        half-life for popularity (the worker and its evaluated path, streams/worker_path.py)."""
        return cls(half_life_ms=settings.covis_half_life_s * 1000, top_k=settings.covis_top_k,
                   popularity_half_life_ms=settings.trending_half_life_s * 1000)

    def apply(self, stats: ItemStats, delta: ItemDelta) -> None:
        if not stats.base:
            stats.base = delta.ts
        if stats.ts and self.row_half_life(stats) != self.half_life_ms:
            self._rebase(stats)   # before this delta moves the row's time on
        stats.half_life_ms = self.half_life_ms
        ts = max(stats.ts, delta.ts)
        # Popularity decays on its own (faster) clock: trending is about the last hours.
        if stats.ts:
            stats.popularity *= decay_factor(ts - stats.ts, self.popularity_half_life_ms)
        # An older delta (windows arrive in any order) decays to the row's time too: popularity is
        # then the same whatever the order or cut of the windows.
        stats.popularity += delta.views * decay_factor(ts - delta.ts, self.popularity_half_life_ms)
        stats.ts = ts
        exp = (delta.ts - stats.base) / self.half_life_ms
        if exp > _RESCALE_EXP:
            self._rescale(stats, delta.ts)
            exp = 0.0
        scale = 2.0 ** exp
        for target, adds in ((stats.similar, delta.similar), (stats.complementary, delta.complementary)):
            for other, w in adds.items():
                target[other] = target.get(other, 0.0) + w * scale
        self._prune(stats)

    def _rebase(self, stats: ItemStats) -> None:
        # Forward-decayed weights mean "weight at ``base``" only under the half-life they were stored
        # with: turn them into plain weights at the row's last update under that one (the change came
        # after it), and store them from there on under the policy's, which decays the time since.
        _scale(stats, decay_factor(max(stats.ts - stats.base, 0), self.row_half_life(stats)), stats.ts)

    def _rescale(self, stats: ItemStats, new_base: int) -> None:
        _scale(stats, decay_factor(new_base - stats.base, self.half_life_ms), new_base)

    def _prune(self, stats: ItemStats) -> None:
        # Prune to K only once the map doubles: amortised O(1) per pair, memory stays within 2K.
        for attr in ("similar", "complementary"):
            weights = getattr(stats, attr)
            if len(weights) > 2 * self.top_k:
                setattr(stats, attr, dict(top_k(weights, self.top_k)))

    def neighbors(self, stats: ItemStats) -> NeighborList:
        """The published view: top K per kind, weights decayed to the item's latest ts."""
        f = decay_factor(stats.ts - stats.base, self.row_half_life(stats))

        def top(weights: dict[str, float]) -> list[tuple[str, float]]:
            return [(k, v * f) for k, v in top_k(weights, self.top_k)]

        return NeighborList(ts=stats.ts, popularity=stats.popularity,
                            similar=top(stats.similar), complementary=top(stats.complementary))


POPULARITY_CHANGE = 0.25  # a list is republished when its popularity moved by more than this share
NEIGHBORS_MAX_AGE_MS = 60_000  # ... or when the published one is older than this


class PublishFilter:
    """Whether an item's new list differs from its last published one in what readers see: the top
    ``k`` neighbours of either kind, popularity by more than a quarter, or an age of
    ``NEIGHBORS_MAX_AGE_MS``. Every published list is applied by every users worker (~0.1 ms);
    publishing each small weight drift made 1.2 lists per event at 1,000 events/s. The worker's items
    side and the evaluated worker path (streams/worker_path.py) both publish through it."""

    def __init__(self, k: int):
        self.k = k
        self._last: dict[str, tuple] = {}  # item -> (top ids, popularity, ms) of its last published list

    def worth(self, item: str, nb: NeighborList, now: int) -> bool:
        k = self.k
        sig = (tuple(i for i, _ in nb.similar[:k]), tuple(i for i, _ in nb.complementary[:k]))
        last = self._last.get(item)
        if last is not None:
            last_sig, last_pop, last_ms = last
            if sig == last_sig and abs(nb.popularity - last_pop) <= POPULARITY_CHANGE * last_pop \
                    and now - last_ms < NEIGHBORS_MAX_AGE_MS:
                return False
        self._last[item] = (sig, nb.popularity, now)
        return True

    def forget(self, item: str) -> None:
        self._last.pop(item, None)


def decayed(value: float, since_ts: int, now_ts: int, half_life_ms: float) -> float:
    if now_ts <= since_ts:
        return value
    return value * decay_factor(now_ts - since_ts, half_life_ms)


def _scale(stats: ItemStats, f: float, base: int) -> None:
    """Multiply the row's weights by ``f`` (dropping those that vanish) and store them relative to ``base``."""
    stats.similar = {k: v * f for k, v in stats.similar.items() if v * f > 1e-12}
    stats.complementary = {k: v * f for k, v in stats.complementary.items() if v * f > 1e-12}
    stats.base = base


_enc = msgspec.msgpack.Encoder()
_delta_dec = msgspec.msgpack.Decoder(ItemDelta)
_batch_dec = msgspec.msgpack.Decoder(DeltaBatch)
_stats_dec = msgspec.msgpack.Decoder(ItemStats)
_nb_dec = msgspec.msgpack.Decoder(NeighborList)
_head_dec = msgspec.msgpack.Decoder(NeighborHead)
_pack_dec = msgspec.msgpack.Decoder(NeighborPack)


def encode(obj: msgspec.Struct) -> bytes:
    return _enc.encode(obj)


def decode_delta(data: bytes) -> ItemDelta:
    return _delta_dec.decode(data)


def decode_batch(data: bytes) -> DeltaBatch:
    return _batch_dec.decode(data)


def decode_stats(data: bytes) -> ItemStats:
    return _stats_dec.decode(data)


def decode_neighbors(data: bytes) -> NeighborList:
    return _nb_dec.decode(data)


def decode_neighbor_head(data: bytes) -> NeighborHead:
    return _head_dec.decode(data)


def decode_neighbor_pack(data: bytes) -> NeighborPack:
    return _pack_dec.decode(data)
