"""What every baseline shares: a ``SessionIndex`` grown by ``fit`` and ``learn_one``, and the output step.

A subclass only writes ``_scores(prefix, own_sid)`` -> (item ids, scores); ``recommend_many`` adds the
optional repeat boost (``score / max + repeat_boost * count in session``), ranks, and pads with popular
items so every list has ``k`` entries whenever the model knows ``k`` items.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from models.base import Candidate, Estimator, Interaction, Session
from models.baselines.index import SessionIndex
from models.baselines.ranking import PopularTop, repeat_boost, to_candidates

_EMPTY_IDS = np.empty(0, dtype=np.int64)
_EMPTY_SCORES = np.empty(0, dtype=np.float64)


class IndexedRecommender(Estimator):
    """Base for the baselines; ``repeat_boost`` must be a keyword of every subclass's ``__init__``."""

    name = "baseline"
    reason = "similar sessions"
    repeat_boost: float = 0.0
    # Hyperparameters that only change scoring, not the index (models.selection shares one fit among them).
    scoring_params: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._index = SessionIndex()
        self._popular = PopularTop()

    # --- learning ---------------------------------------------------------------------
    def fit(self, sessions: Sequence[Sequence[str]]) -> None:
        """Learn from whole sessions (oldest first), on top of anything learned before."""
        self._index.build(sessions)
        self._popular.rebuild(self._index.clicks.view())
        self._fitted()

    def learn_one(self, session: Session, interaction: Interaction) -> None:
        # An empty session means this click opens a new one, even for a returning user.
        self._index.add_click(session.user_id, interaction.item, new_session=not session.interactions)
        idx = self._index.vocab.index[interaction.item]
        self._popular.bump(idx, self._index.clicks.view())

    def _fitted(self) -> None:
        """Hook: precompute after a bulk ``fit``."""

    def set_scoring_params(self, **params: object) -> None:
        """Change ``scoring_params`` on a fitted model, validated as ``__init__`` validates them."""
        unknown = set(params) - set(self.scoring_params)
        if unknown:
            raise ValueError(f"{type(self).__name__} cannot change {sorted(unknown)} without a refit")
        checked = self.clone(**params)
        for name in params:
            setattr(self, name, getattr(checked, name))

    # --- scoring ----------------------------------------------------------------------
    def _scores(self, prefix: list[str], own_sid: int | None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _own_sid(self, session: Session) -> int | None:
        """The index row holding this very session's earlier clicks (it must not be its own neighbour)."""
        if not session.interactions:
            return None
        return self._index.open.get(session.user_id)

    def recommend_one(self, session: Session, k: int) -> list[Candidate]:
        prefix = session.items
        ids, scores = self._scores(prefix, self._own_sid(session)) if prefix else (_EMPTY_IDS, _EMPTY_SCORES)
        extra = None
        if self.repeat_boost > 0 and prefix:
            ids, scores, extra = repeat_boost(ids, scores, prefix, self._index.vocab.index, self.repeat_boost)
        padding = self._popular.ranked(self._index.clicks.view(), 2 * k + len(prefix))
        return to_candidates(self._index.vocab.items, ids, scores, k, reason=self.reason,
                             source=self.name, padding=padding, extra=extra)

    def recommend_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        return [self.recommend_one(s, k) for s in sessions]
