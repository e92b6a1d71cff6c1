"""``Selected``: any model whose ``fit`` first chooses its settings on the validation slice.

``fit(sessions)`` cuts the newest 10 % of ``sessions`` off (:func:`validation_slice`), draws candidates
from ``space`` (the model's defaults first), scores them by successive halving with every candidate
fitted on the older 90 %, then builds the winner and fits it on all of ``sessions``: the newest sessions
are the most valuable ones to learn from, so they are only held out while choosing.

Refitting per candidate would cost far more than scoring, so a model may name hyperparameters that only
change scoring (``scoring_params``) and accept them on a fitted instance (``set_scoring_params``);
candidates that differ only in those share one fit. Until ``fit`` runs (a stream that starts from
nothing) the wrapped model has its class defaults, which are the settings the worker uses.

Space keys may address one entry of a dict hyperparameter: ``"weights.repeat"`` is ``weights["repeat"]``.

A part too costly to fit once per candidate and unaffected by the searched settings (the hybrid's deep
network) can be fitted once: a model with ``fit_shared(sessions, validation_start)`` returns it, and
every candidate and the final model get it through ``use_shared`` before their ``fit``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from models.base import Candidate, Estimator, Interaction, Recommender, Session
from models.selection.search import Budget, Params, Scores, Selection, Space, draw, key, successive_halving
from models.selection.validation import RULE, score, validation_slice


def expand(params: Mapping[str, Any], template: object) -> Params:
    """Turn dotted keys into whole dict hyperparameters, based on ``template``'s values."""
    out: Params = {}
    for name, value in params.items():
        head, _, sub = name.partition(".")
        if sub:
            base = dict(out.get(head) or getattr(template, head))
            base[sub] = value
            out[head] = base
        else:
            out[name] = value
    return out


def defaults_of(space: Space, template: object) -> Params:
    """The template's own value for every key of ``space``."""
    out: Params = {}
    for name in space:
        head, _, sub = name.partition(".")
        value = getattr(template, head)
        out[name] = value.get(sub, 0.0) if sub else value
    return out


def build(factory: Callable[..., Recommender], params: Params, shared: object) -> Recommender:
    model = factory(**params)
    if shared is not None:
        model.use_shared(shared)
    return model


class _Evaluator:
    """Scores candidates on cases; models differing only in scoring parameters share one fit."""

    def __init__(self, factory: Callable[..., Recommender], fixed: Params, template: object,
                 head: list[Sequence[str]], k: int, shared: object = None) -> None:
        self.factory, self.fixed, self.template, self.head, self.k = factory, fixed, template, head, k
        self.shared = shared
        self.scoring = tuple(getattr(template, "scoring_params", ()))
        self.cached: Recommender | None = None
        self.cached_key: str | None = None

    def full(self, cand: Params) -> Params:
        return {**self.fixed, **expand(cand, self.template)}

    def fit_key(self, params: Params) -> str:
        return key({n: v for n, v in params.items() if n not in self.scoring})

    def __call__(self, candidates: list[Params], cases: list) -> list[Scores]:
        full = [self.full(c) for c in candidates]
        groups: dict[str, list[int]] = {}
        for i, params in enumerate(full):
            groups.setdefault(self.fit_key(params), []).append(i)
        out: list[Scores | None] = [None] * len(candidates)
        for group in sorted(groups, key=lambda g: (g != self.cached_key, g)):   # reuse the cached fit first
            for i in groups[group]:
                out[i] = score(self._model(group, full[i]), cases, self.k)
        return out   # type: ignore[return-value]

    def _model(self, group: str, params: Params) -> Recommender:
        if group != self.cached_key:
            self.cached = None   # free the previous fit before building the next one
            self.cached = build(self.factory, params, self.shared)
            self.cached.fit(self.head)
            self.cached_key = group
        if self.scoring:
            # Every scoring parameter, not just the candidate's: nothing may leak from the previous one.
            self.cached.set_scoring_params(**{n: params.get(n, getattr(self.template, n)) for n in self.scoring})
        return self.cached


class Selected(Estimator):
    """``factory(**fixed)`` with the hyperparameters in ``space`` chosen on validation data in ``fit``.

    >>> from models.baselines import SKNN
    >>> rec = Selected(SKNN, {"k": [1, 50]}, budget=Budget(candidates=2, min_cases=5))
    >>> rec.fit([["a", "b", "c"], ["b", "c", "d"]] * 20)
    >>> sorted(rec.selection.chosen), rec.selection.validation_start
    (['k'], 36)
    """

    def __init__(self, factory: Callable[..., Recommender], space: Space, fixed: Mapping[str, Any] | None = None,
                 budget: Budget = Budget(), fraction: float = 0.1, k: int = 20) -> None:
        self.factory = factory
        self.space = {name: list(choices) for name, choices in space.items()}
        self.fixed = dict(fixed or {})
        self.budget = budget
        self.fraction = fraction
        self.k = k
        self.model: Recommender = factory(**self.fixed)
        self.selection: Selection | None = None

    @property
    def name(self) -> str:
        return self.model.name

    def fit(self, sessions: Sequence[Sequence[str]]) -> None:
        sessions = list(sessions)
        selection, shared = self._select(sessions)
        self.model = build(self.factory, self.params_of(selection.chosen), shared)
        self.model.fit(sessions)
        self.selection = selection

    def select(self, sessions: Sequence[Sequence[str]]) -> Selection:
        """Only the choice, without the refit: what a production re-tune publishes (models/selection/retune.py),
        where the worker, not this object, holds the model the settings are applied to."""
        return self._select(list(sessions))[0]

    def params_of(self, chosen: Params) -> Params:
        """Every keyword the factory gets for ``chosen`` (dotted keys expanded onto the fixed ones)."""
        return {**self.fixed, **expand(chosen, self.factory(**self.fixed))}

    def _select(self, sessions: list[Sequence[str]]) -> tuple[Selection, object]:
        cut = validation_slice(sessions, self.fraction)
        template = self.factory(**self.fixed)
        fit_shared = getattr(template, "fit_shared", None)
        shared = fit_shared(sessions, cut.start) if fit_shared is not None else None
        candidates = draw(self.space, defaults_of(self.space, template), self.budget)
        evaluate = _Evaluator(self.factory, self.fixed, template, cut.head, self.k, shared)
        selection = successive_halving(candidates, evaluate, cut.cases(seed=self.budget.seed), self.budget)
        evaluate.cached = None
        selection.rule = RULE if self.fraction == 0.1 else RULE.replace("10%", f"{100 * self.fraction:g}%")
        selection.validation_sessions, selection.validation_start = len(cut.tail), cut.start
        selection.training_sessions = len(sessions)
        return selection, shared

    def learn_one(self, session: Session, interaction: Interaction) -> None:
        self.model.learn_one(session, interaction)

    def recommend_many(self, sessions: Sequence[Session], k: int) -> list[list[Candidate]]:
        return self.model.recommend_many(sessions, k)
