"""The two evaluation protocols, both driving a ``models.base.Recommender`` exactly as the worker does.

Offline (the papers' protocol): ``fit`` on the training sessions, then rank every test case's next
item among all items; prefix items are not excluded from the list. ``fit`` is handed the training
sessions only; a model that selects its settings does so on the newest of those (models.selection).

Prequential (the stream's protocol): every training session and then every test session is replayed
click by click, in file order, through ``learn_one``; each test click after a session's first is scored
first (``recommend_many`` on the session so far) and learned from after, so the model never sees what
it predicts. The splits carry order but no time, so clicks get the timestamps ``freshrec replay`` gives
the same TSV files (1 s per click, 60 s between sessions) and the session numbers of the files as user
ids: a model sees the same stream here as through Kafka.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

import numpy as np

from models.base import Interaction, Recommender, Session
from models.evaluation.metrics import Coverage, hit_rate, mrr, ndcg, rank_of
from contracts.datasets import SessionDataset, click_ts

MODES = ("offline", "prequential")
Progress = Callable[[int], None]   # called with the number of cases (offline) or clicks (prequential) done


@dataclass
class EvalResult:
    """One model on one dataset; ``ranks`` (1-based, 0 = miss, in case/stream order) feeds the plots."""

    dataset: str
    model: str
    mode: str
    k: int
    hr: float
    mrr: float
    ndcg: float
    coverage: float
    cases: int
    seconds: float
    ranks: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0, dtype=np.int32))
    selection: dict[str, Any] | None = None   # what the model's fit chose on validation data, if it selects

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` object: hr and mrr in percent, ndcg and coverage as fractions; ``selection``
        (chosen settings and validation scores) only for models that select their settings in ``fit``."""
        out = {"dataset": self.dataset, "model": self.model, "mode": self.mode, "k": self.k,
               "hr": round(self.hr, 4), "mrr": round(self.mrr, 4), "ndcg": round(self.ndcg, 6),
               "coverage": round(self.coverage, 6), "cases": self.cases, "seconds": round(self.seconds, 3)}
        if self.selection is not None:
            out["selection"] = self.selection
        return out


@dataclass
class StrData:
    """A dataset with item ids as strings, the form models see."""

    name: str
    train: list[list[str]]
    test: list[list[str]]
    cases: list[tuple[list[str], str]]
    n_items: int

    @classmethod
    def from_dataset(cls, data: SessionDataset) -> StrData:
        train = [[str(i) for i in s] for s in data.train]
        test = [[str(i) for i in s] for s in data.test]
        cases = [([str(i) for i in prefix], str(nxt)) for prefix, nxt in data.cases]
        items = {i for s in train for i in s} | {i for s in test for i in s} | {n for _, n in cases}
        return cls(data.name, train, test, cases, len(items))

    @property
    def n_test_events(self) -> int:
        """Clicks scored by the prequential protocol (every test click after a session's first)."""
        return sum(max(len(s) - 1, 0) for s in self.test)

    @property
    def n_clicks(self) -> int:
        return sum(map(len, self.train)) + sum(map(len, self.test))


def _result(data: StrData, name: str, mode: str, k: int, ranks: np.ndarray, cov: Coverage,
            seconds: float, model: Recommender) -> EvalResult:
    selection = getattr(model, "selection", None)
    return EvalResult(data.name, name, mode, k, hit_rate(ranks, k), mrr(ranks, k), ndcg(ranks, k),
                      cov.share(data.n_items), len(ranks), seconds, ranks,
                      selection.to_json() if selection is not None else None)


def evaluate_offline(model: Recommender, data: StrData, *, k: int = 20, name: str | None = None,
                     batch: int = 256, progress: Progress | None = None) -> EvalResult:
    """Fit on ``data.train``, score every test case; ``seconds`` covers fit and scoring."""
    start = perf_counter()
    model.fit(data.train)
    ranks = np.zeros(len(data.cases), dtype=np.int32)
    cov = Coverage()
    for lo in range(0, len(data.cases), batch):
        chunk = data.cases[lo: lo + batch]
        sessions = [Session(user_id=f"case-{lo + j}",
                            interactions=[Interaction(item=item, ts=pos) for pos, item in enumerate(prefix)])
                    for j, (prefix, _) in enumerate(chunk)]
        for j, (recs, (_, target)) in enumerate(zip(model.recommend_many(sessions, k), chunk)):
            items = [c.item for c in recs[:k]]
            ranks[lo + j] = rank_of(target, items)
            cov.update(items)
        if progress is not None:
            progress(len(chunk))
    return _result(data, name or model.name, "offline", k, ranks, cov, perf_counter() - start, model)


def evaluate_prequential(model: Recommender, data: StrData, *, k: int = 20, name: str | None = None,
                         progress: Progress | None = None, report_every: int = 4096,
                         warm_start: bool = False) -> EvalResult:
    """Replay train then test sessions through ``learn_one``; score each test click before learning it.

    ``warm_start`` fits on the training sessions in bulk instead of replaying them (for models that
    cannot score before a ``fit``, such as the deep model); the test replay is the same either way."""
    start = perf_counter()
    ranks: list[int] = []
    cov = Coverage()
    clicks = number = pending = 0
    phases: list[tuple[bool, list[list[str]]]] = [(False, data.train), (True, data.test)]
    if warm_start:
        model.fit(data.train)
        phases.pop(0)
        number, clicks = len(data.train), sum(map(len, data.train))   # same ids and stamps as a replay
        if progress is not None:
            progress(clicks)
    for scored, sessions in phases:
        for items in sessions:
            number += 1
            session = Session(user_id=str(number))
            for pos, item in enumerate(items):
                interaction = Interaction(item=item, ts=click_ts(number - 1, clicks, pos))
                if scored and pos:
                    recs = [c.item for c in model.recommend_many([session], k)[0][:k]]
                    ranks.append(rank_of(item, recs))
                    cov.update(recs)
                model.learn_one(session, interaction)
                session.interactions.append(interaction)
            clicks += len(items)
            pending += len(items)
            if progress is not None and pending >= report_every:
                progress(pending)
                pending = 0
    if progress is not None and pending:
        progress(pending)
    return _result(data, name or model.name, "prequential", k, np.asarray(ranks, dtype=np.int32), cov,
                   perf_counter() - start, model)


def evaluate(model: Recommender, data: StrData, *, mode: str = "offline", k: int = 20, name: str | None = None,
             progress: Progress | None = None, warm_start: bool = False) -> EvalResult:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "offline":
        return evaluate_offline(model, data, k=k, name=name, progress=progress)
    return evaluate_prequential(model, data, k=k, name=name, progress=progress, warm_start=warm_start)


def progress_total(data: StrData, mode: str) -> int:
    """What ``progress`` callbacks add up to for ``mode``."""
    return len(data.cases) if mode == "offline" else data.n_clicks
