"""The model protocols: one per kind of thing, so the stream agent never knows which model it drives.

Like River's estimators, every verb carries its cardinality: ``learn_one`` / ``learn_many``,
``candidates`` / ``candidates_many``, ``rank`` / ``rank_many``. The ``*_many`` forms exist because the
worker scores a whole take window at once (one sparse product instead of hundreds of Python loops);
their default implementations loop over the ``*_one`` forms, so a simple model only writes those.

Hyperparameters go in ``__init__`` as typed keywords; learned state lives elsewhere; ``clone()``
returns an untrained twin with the same hyperparameters.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Candidate:
    """A recommendable item with the score its source gave it and a human-readable reason."""

    item: str
    score: float
    reason: str
    source: str = ""


@dataclass(slots=True)
class Interaction:
    """One interaction inside a session, as models see it (the wire event minus transport fields).

    ``shown``: the items of the recommendation list the user saw before this interaction, when the
    event carries them (an impression's ``shown``, repeated on a click on that list); never kept in
    the session history, only on the interaction being learned.
    """

    item: str
    type: str = "view"
    ts: int = 0
    shown: list[str] | None = None


@dataclass(slots=True)
class Session:
    """What a model may know about the user at scoring time.

    ``interactions`` is the current session, oldest first, bounded by the worker; ``purchased`` and
    ``seen_counts`` reach back beyond the session (bounded sets kept by the session state table).
    ``context`` carries request context such as hour of day, page, A/B variant.
    """

    user_id: str
    interactions: list[Interaction] = field(default_factory=list)
    purchased: set[str] = field(default_factory=set)
    seen_counts: dict[str, int] = field(default_factory=dict)
    context: dict[str, object] = field(default_factory=dict)

    @property
    def items(self) -> list[str]:
        return [it.item for it in self.interactions]

    @property
    def current_item(self) -> str | None:
        return self.interactions[-1].item if self.interactions else None

    @property
    def is_new_user(self) -> bool:
        return not self.interactions and not self.purchased


class Estimator:
    """Base for every model: hyperparameters from ``__init__``, ``clone()`` for an untrained twin."""

    def _get_params(self) -> dict[str, object]:
        sig = inspect.signature(type(self).__init__)
        return {name: copy.deepcopy(getattr(self, name)) for name in sig.parameters
                if name != "self" and hasattr(self, name)}

    def clone(self, **overrides: object):
        params = self._get_params()
        params.update(overrides)
        return type(self)(**params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._get_params().items())
        return f"{type(self).__name__}({args})"


@runtime_checkable
class Learner(Protocol):
    """Anything that learns online from the stream: called once per event, in event order."""

    def learn_one(self, session: Session, interaction: Interaction) -> None:
        """Learn from ``interaction`` given the session *before* it happened."""


@runtime_checkable
class CandidateSource(Protocol):
    """Proposes items for a session. Scores are comparable within one source only."""

    name: str

    def candidates(self, session: Session, k: int) -> list[Candidate]: ...


@runtime_checkable
class Ranker(Protocol):
    """Orders candidates from several sources into the final list."""

    def rank(self, session: Session, candidates: Sequence[Candidate], k: int) -> list[Candidate]: ...


def candidates_many(source: CandidateSource, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
    """Batch form: uses the source's own ``candidates_many`` when it has a vectorised one."""
    many = getattr(source, "candidates_many", None)
    if many is not None:
        return many(sessions, k)
    return [source.candidates(s, k) for s in sessions]


@runtime_checkable
class Recommender(Protocol):
    """A whole recommender: what the evaluation harness and the worker both drive.

    ``fit`` trains offline on whole sessions (item lists, oldest first); ``learn_one`` learns from
    the stream one interaction at a time (prequential evaluation and the worker call it, in event
    order, *after* scoring that event); ``recommend_many`` returns the top ``k`` per session, best first.
    Items are strings everywhere (dataset integer ids are passed as ``str``).
    """

    name: str

    def fit(self, sessions: Sequence[Sequence[str]]) -> None: ...

    def learn_one(self, session: Session, interaction: Interaction) -> None: ...

    def recommend_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]: ...
