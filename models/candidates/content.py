"""Content similarity from the catalog: "similar to X", and the way new items get recommended.

Each catalog item becomes a sparse TF-IDF vector over category-path prefixes (deeper levels weigh
more), brand, a price band within the leaf category and title terms; similarity is the cosine
through an inverted index. Vectors are normalised with the IDF known at upsert time, which keeps an
upsert O(terms) instead of re-weighting the catalog; the drift is small once the catalog is loaded.
A new item is searchable the moment its catalog event arrives, before anyone has clicked it.

Similar lists are cached per item and recomputed after ``refresh_every`` catalog upserts, because
scoring through postings costs milliseconds and the catalog changes far less often than events.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from contracts.events import CatalogItem
from models.base import Candidate, Estimator, Interaction, Session

_TOKEN = re.compile(r"[a-z0-9]{2,}")


def price_band(price: float) -> int:
    """Log-spaced bands (x1.6 apart): 'cheap/mid/premium' within a category without per-category stats."""
    return int(math.log(price + 1.0) / math.log(1.6))


class ContentIndex(Estimator):
    name = "content"
    reason_template = "similar to {item}"

    def __init__(self, category_weight: float = 2.0, brand_weight: float = 1.0, price_weight: float = 0.5,
                 title_weight: float = 1.0, max_postings: int = 5000, recent: int = 2, refresh_every: int = 100,
                 list_size: int = 50):
        self.category_weight = category_weight
        self.brand_weight = brand_weight
        self.price_weight = price_weight
        self.title_weight = title_weight
        self.max_postings = max_postings
        self.recent = recent
        self.refresh_every = refresh_every
        self.list_size = list_size
        self.vectors: dict[str, dict[str, float]] = {}
        self.postings: dict[str, dict[str, float]] = {}
        self._upserts = 0
        self._cache: dict[str, tuple[int, list[tuple[str, float]]]] = {}

    # --- learning ----------------------------------------------------------------------------------
    def features(self, item: CatalogItem) -> dict[str, float]:
        """Raw (pre-IDF) term weights of one catalog item."""
        out: dict[str, float] = {}
        depth = len(item.category)
        for i in range(depth):
            out[f"c:{'/'.join(item.category[:i + 1])}"] = self.category_weight * (i + 1) / depth
        if item.brand:
            out[f"b:{item.brand.lower()}"] = self.brand_weight
        out[f"p:{item.leaf_category}:{price_band(item.price)}"] = self.price_weight
        for tok in _TOKEN.findall(item.title.lower()):
            key = f"t:{tok}"
            out[key] = out.get(key, 0.0) + self.title_weight
        return out

    def learn_item(self, item: CatalogItem) -> None:
        """Insert or replace an item's vector."""
        self.remove_item(item.item_id)
        n = len(self.vectors) + 1
        raw = self.features(item)
        vec = {t: w * (math.log((n + 1) / (len(self.postings.get(t, ())) + 1)) + 1.0) for t, w in raw.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vec = {t: v / norm for t, v in vec.items()}
        self.vectors[item.item_id] = vec
        for t, v in vec.items():
            self.postings.setdefault(t, {})[item.item_id] = v
        self._upserts += 1

    def remove_item(self, item_id: str) -> None:
        """Forget an item (catalog tombstone, or before re-inserting it)."""
        old = self.vectors.pop(item_id, None)
        if old is None:
            return
        for t in old:
            post = self.postings.get(t)
            if post is not None:
                post.pop(item_id, None)
                if not post:
                    del self.postings[t]
        self._cache.pop(item_id, None)
        self._upserts += 1

    def learn_one(self, session: Session, interaction: Interaction) -> None:
        """Content comes from the catalog only; events teach it nothing."""

    def fit(self, sessions: Sequence[Sequence[str]]) -> None:
        """Public session logs have no catalog: nothing to learn."""

    # --- scoring -----------------------------------------------------------------------------------
    def similar(self, item_id: str, k: int) -> list[tuple[str, float]]:
        """The ``k`` items most similar to ``item_id`` (cosine), best first."""
        if item_id not in self.vectors:
            # Not cached: ids outside the catalog (typos, bots, items not yet upserted) would grow the
            # cache without bound, and an entry made now would go stale when the item arrives.
            return []
        cached = self._cache.get(item_id)
        if cached is None or self._upserts - cached[0] >= self.refresh_every or \
                (len(cached[1]) < k and len(cached[1]) == self.list_size):
            cached = (self._upserts, self._compute(item_id, max(k, self.list_size)))
            self._cache[item_id] = cached
        return cached[1][:k]

    def _compute(self, item_id: str, k: int) -> list[tuple[str, float]]:
        vec = self.vectors.get(item_id)
        if vec is None:
            return []
        scores: dict[str, float] = {}
        for t, qv in vec.items():
            post = self.postings.get(t, {})
            if len(post) > self.max_postings:
                continue
            for other, v in post.items():
                scores[other] = scores.get(other, 0.0) + qv * v
        scores.pop(item_id, None)
        return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def candidates(self, session: Session, k: int) -> list[Candidate]:
        merged: dict[str, Candidate] = {}
        for j, item in enumerate(reversed(session.items[-self.recent:])):
            weight = 1.0 / (j + 1)
            for other, s in self.similar(item, k):
                prev = merged.get(other)
                if prev is None or s * weight > prev.score:
                    merged[other] = Candidate(other, s * weight, self.reason_template.format(item=item), self.name)
        return sorted(merged.values(), key=lambda c: -c.score)[:k]

    def candidates_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        return [self.candidates(s, k) for s in sessions]

    # --- state -------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"vectors": {i: dict(v) for i, v in self.vectors.items()}, "upserts": self._upserts}

    def load_state_dict(self, state: dict) -> None:
        self.vectors = {i: dict(v) for i, v in state["vectors"].items()}
        self.postings = {}
        for item_id, vec in self.vectors.items():
            for t, v in vec.items():
                self.postings.setdefault(t, {})[item_id] = v
        self._upserts = state["upserts"]
        self._cache.clear()
