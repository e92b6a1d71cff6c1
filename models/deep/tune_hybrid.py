"""Choose the hybrid's deep fusion weight on a validation slice: ``python -m models.deep.tune_hybrid``.

Stream sources are fitted on the first 95% of the training sessions and the deep artifact is one
trained on the same sessions (its validation slice is the last 5%, which it never trained on); every
prefix of that slice is a case. Each source's candidates are computed once per case and ranked with
one :class:`WeightedFusion` per weight, so trying several weights costs little more than one.
Prints HR@20 / MRR@20 per weight as JSON (docs/benchmarks.md, "Hybrid").
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from models.base import Interaction, Session, candidates_many
from models.deep.data import split_validation
from models.deep.hybrid import HybridRecommender
from models.ranking.fusion import WeightedFusion


def score_weights(rec: HybridRecommender, cases: list[tuple[list[str], str]], weights: list[float],
                  k: int = 20, batch: int = 256) -> dict[float, tuple[float, float]]:
    rankers = {w: WeightedFusion({**rec.weights, "deep": w}) for w in weights}
    hits = dict.fromkeys(weights, 0)
    rr = dict.fromkeys(weights, 0.0)
    active = [src for name, src in rec.sources.items() if rec.weights.get(name, 0) > 0 or name == "deep"]
    for lo in range(0, len(cases), batch):
        chunk = cases[lo:lo + batch]
        sessions = [Session(f"case-{lo + j}", [Interaction(i, ts=p) for p, i in enumerate(prefix)])
                    for j, (prefix, _) in enumerate(chunk)]
        per = [candidates_many(src, sessions, k if src is rec.trending else max(rec.candidate_k, k))
               for src in active]
        for i, (session, (_, target)) in enumerate(zip(sessions, chunk)):
            pool = [c for lists in per for c in lists[i]]
            for w, ranker in rankers.items():
                items = [c.item for c in rec.rules.apply(session, ranker.rank(session, pool, k + 5), k, rec.facts)]
                if target in items[:k]:
                    hits[w] += 1
                    rr[w] += 1.0 / (items.index(target) + 1)
    n = max(1, len(cases))
    return {w: (100.0 * hits[w] / n, 100.0 * rr[w] / n) for w in weights}


def main(data: Path = typer.Option(..., "--data", "-d", metavar="DIR", help="Dataset folder (train_sessions.tsv[.gz])"),
         artifact: Path = typer.Option(..., "--artifact", metavar="DIR",
                                       help="Deep version directory trained on this dataset's training sessions"),
         weights: str = typer.Option("0,0.1,0.25,0.5,1,2", "--weights", help="Comma-separated deep weights"),
         fraction: float = typer.Option(0.05, "--fraction", min=0.01, max=0.5,
                                        help="Validation share (the deep model's validation_fraction)")) -> None:
    """Print validation HR@20 / MRR@20 of the hybrid for each deep fusion weight (JSON)."""
    from contracts.artifacts import ArtifactError
    from contracts.datasets import DatasetError, iter_sessions, resolve

    try:
        ws = [float(w) for w in weights.split(",")]
    except ValueError:
        raise typer.BadParameter(f"--weights {weights!r}: expected numbers such as 0,0.5,1") from None
    try:
        train = [[str(i) for i in s] for _, s in iter_sessions(resolve(data, "train_sessions"))]
    except (DatasetError, OSError) as exc:
        raise typer.BadParameter(f"--data {data}: {exc}") from None
    fit, val = split_validation(train, fraction)
    start = time.perf_counter()
    rec = HybridRecommender(page_rules=False, deep_artifact=str(artifact))
    try:
        rec.fit(fit)
    except ArtifactError as exc:
        raise typer.BadParameter(f"--artifact: {exc}") from None
    cases = [(s[:t], s[t]) for s in val for t in range(1, len(s))]
    results = score_weights(rec, cases, ws)
    typer.echo(json.dumps({"dataset": data.name, "slice": "validation", "cases": len(cases),
                           "results": {str(w): [round(h, 2), round(m, 2)] for w, (h, m) in results.items()},
                           "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    typer.run(main)
