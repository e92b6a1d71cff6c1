"""Budgeted search over a discrete space: random candidates, successive halving on nested case sets.

Every candidate is scored on the first ``min_cases`` validation cases; the best ``1 / eta`` go on to
``eta`` times as many cases, and so on until one is left or every case has been used. Cases are a prefix
of one fixed permutation, so each rung re-scores the previous rung's cases plus new ones, and a strong
candidate is never dropped on cases a weaker one was not also measured on. The budget is counted in
candidates and cases, not seconds, so the same data and seed give the same choice on any machine.

The model's own defaults are always candidate 0 and ties go to the earlier candidate, so a search
whose validation differences are all ties returns the defaults.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Space = Mapping[str, Sequence[Any]]
Params = dict[str, Any]
Scores = tuple[float, float]   # HR@20, MRR@20 in percent
# Scores a list of candidates on the same cases; called once per rung.
Evaluate = Callable[[list[Params], list], list[Scores]]


@dataclass(frozen=True)
class Budget:
    """How much selection may cost: ``candidates`` drawn, ``min_cases`` each in the first rung, ``eta``.

    27 candidates, 2,000 cases, eta 3 score 27 x 2k + 9 x 6k + 3 x 18k = 162k cases (plus the defaults
    once more on the last rung). Measured on a 2-core VM (docs/benchmarks.md, "Selection"): 1-3 minutes
    per model on Diginetica or YooChoose-1/64, one core."""

    candidates: int = 27
    min_cases: int = 2000
    eta: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.candidates < 1 or self.min_cases < 1 or self.eta < 2:
            raise ValueError(f"budget needs candidates >= 1, min_cases >= 1, eta >= 2; got {self}")


def objective(scores: Scores) -> float:
    """The declared rule: HR@20 + MRR@20 (percent points), one number for the whole list."""
    return scores[0] + scores[1]


def key(params: Mapping[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, default=str)


def draw(space: Space, defaults: Params, budget: Budget) -> list[Params]:
    """The defaults, then distinct uniform draws from ``space`` (fewer when the space is smaller)."""
    rng = np.random.default_rng(budget.seed)
    out = [dict(defaults)]
    seen = {key(defaults)}
    size = int(np.prod([len(v) for v in space.values()])) if space else 1
    for _ in range(50 * budget.candidates):
        if len(out) >= min(budget.candidates, size + 1):
            break
        cand = {name: choices[int(rng.integers(len(choices)))] for name, choices in space.items()}
        if key(cand) not in seen:
            seen.add(key(cand))
            out.append(cand)
    return out


@dataclass
class Selection:
    """What ``fit`` chose and why; ``to_json`` is what ``freshrec evaluate --json`` prints."""

    chosen: Params
    validation: Scores
    defaults: Params
    defaults_validation: Scores
    cases: int                # cases the winner and the defaults were compared on (the last rung)
    rungs: list[tuple[int, int]] = field(default_factory=list)   # (candidates, cases) per rung
    candidates: int = 0
    validation_cases: int = 0
    validation_sessions: int = 0
    validation_start: int = 0   # index of the first validation session among the training sessions
    training_sessions: int = 0
    cpu_seconds: float = 0.0
    seconds: float = 0.0
    rule: str = ""

    def to_json(self) -> dict[str, Any]:
        pct = lambda s: {"hr": round(s[0], 4), "mrr": round(s[1], 4)}   # noqa: E731
        return {"rule": self.rule, "chosen": self.chosen, "validation": pct(self.validation),
                "defaults": self.defaults, "defaults_validation": pct(self.defaults_validation),
                "cases": self.cases, "rungs": [list(r) for r in self.rungs], "candidates": self.candidates,
                "validation_cases": self.validation_cases, "validation_sessions": self.validation_sessions,
                "validation_start": self.validation_start, "training_sessions": self.training_sessions,
                "cpu_seconds": round(self.cpu_seconds, 1), "seconds": round(self.seconds, 1)}


def successive_halving(candidates: list[Params], evaluate: Evaluate, cases: list, budget: Budget) -> Selection:
    """Run the rungs; ``candidates[0]`` must be the defaults. ``cases`` are in permutation order."""
    if not candidates:
        raise ValueError("successive halving needs at least one candidate")
    if not cases:
        raise ValueError("no validation cases: the validation sessions hold no prefix with a next item")
    wall, cpu = time.perf_counter(), time.process_time()
    alive = list(range(len(candidates)))
    rungs: list[tuple[int, int]] = []
    n = min(budget.min_cases, len(cases))
    while True:
        scores = evaluate([candidates[i] for i in alive], cases[:n])
        rungs.append((len(alive), n))
        order = sorted(range(len(alive)), key=lambda j: (-objective(scores[j]), alive[j]))
        keep = max(1, len(alive) // budget.eta)
        if keep == 1 or n == len(cases):   # one survivor, or no unseen cases left to separate them
            best, best_scores = alive[order[0]], scores[order[0]]
            defaults_scores = scores[alive.index(0)] if 0 in alive else None
            break
        alive = sorted(alive[j] for j in order[:keep])
        n = min(n * budget.eta, len(cases))
    if defaults_scores is None:   # the defaults were dropped earlier: measure them on the same cases
        defaults_scores = evaluate([candidates[0]], cases[:n])[0]
        rungs.append((1, n))
    return Selection(chosen=dict(candidates[best]), validation=best_scores, defaults=dict(candidates[0]),
                     defaults_validation=defaults_scores, cases=n, rungs=rungs, candidates=len(candidates),
                     validation_cases=len(cases), cpu_seconds=time.process_time() - cpu,
                     seconds=time.perf_counter() - wall)
