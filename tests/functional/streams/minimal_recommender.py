"""A small but real recommender driving the worker in tests until ``models.recommender`` lands.

Co-visitation from the worker's published neighbour lists (recency-weighted over the session's last
items), padded with popular items learned from the stream; never the current or a purchased item.
Subprocess workers load it with ``FRESHREC_WORKER_RECOMMENDER=tests.functional.streams.minimal_recommender:MinimalRecommender``.
"""

from __future__ import annotations

from collections import Counter

from models.base import Candidate, Estimator, Interaction, Session


class MinimalRecommender(Estimator):
    name = "minimal"
    version = "minimal-1"

    def __init__(self, last_n: int = 3):
        self.last_n = last_n
        self._neighbors: dict[str, list[tuple[str, float]]] = {}
        self._popular: Counter[str] = Counter()
        self._top: list[tuple[str, int]] = []
        self._learned = 0
        self.items: dict[str, object] = {}

    def fit(self, sessions) -> None:
        for s in sessions:
            self._popular.update(s)

    def learn_one(self, session: Session, interaction: Interaction) -> None:
        self._popular[interaction.item] += 1
        self._learned += 1
        if self._learned % 1000 == 1:
            self._top = []  # refreshed lazily: sorting every item per scored session would dominate

    def learn_item(self, item) -> None:
        self.items[item.item_id] = item

    def set_neighbors(self, item: str, neighbors: list[tuple[str, float]]) -> None:
        self._neighbors[item] = list(neighbors)

    def neighbors(self, item: str) -> list[tuple[str, float]]:
        return self._neighbors.get(item, [])

    def recommend_many(self, sessions: list[Session], k: int) -> list[list[Candidate]]:
        return [self._one(s, k) for s in sessions]

    def _one(self, session: Session, k: int) -> list[Candidate]:
        banned = set(session.purchased)
        if session.current_item is not None:
            banned.add(session.current_item)
        scores: dict[str, float] = {}
        why: dict[str, str] = {}
        for pos, prev in enumerate(reversed(session.items[-self.last_n:])):
            for other, w in self._neighbors.get(prev, []):
                if other in banned:
                    continue
                scores[other] = scores.get(other, 0.0) + w / (pos + 1)
                why.setdefault(other, f"viewed together with {prev}")
        out = [Candidate(i, s, why[i], "covis") for i, s in sorted(scores.items(), key=lambda kv: -kv[1])[:k]]
        have = {c.item for c in out} | banned
        if len(self._top) < min(k + len(have), len(self._popular)):
            self._top = self._popular.most_common(2 * k + len(have))
        for item, n in self._top:
            if len(out) >= k:
                break
            if item not in have:
                out.append(Candidate(item, 0.001 * n, "trending now", "popular"))
        return out
