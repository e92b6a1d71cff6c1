"""``freshrec train`` (a new deep-model version from a dataset folder) and ``freshrec bench deep``."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from freshrec.progress import Progress
from freshrec.settings import ENV_PREFIX, Settings


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _store(out: Path | None) -> Path:
    return out if out is not None else Settings().resolved_deep_store


def train(
    data: Path = typer.Option(..., "--data", "-d", metavar="DIR",
                              help="Dataset folder in the ../shared/data format (train_sessions.tsv[.gz])"),
    epochs: int = typer.Option(6, "--epochs", "-e", min=1, help="Most epochs; the best validation epoch is kept"),
    out: Path | None = typer.Option(None, "--out", "-o", metavar="DIR", envvar=f"{ENV_PREFIX}DEEP_STORE",
                                    show_envvar=True, help="Artifact store (default: <cache_dir>/models/deep)"),
    publish_it: bool = typer.Option(True, "--publish/--no-publish",
                                    help="Make the new version current if its validation MRR@20 is not worse"),
    threads: int = typer.Option(1, "--threads", min=1, help="torch threads (the machine is shared: keep it low)"),
    dim: int = typer.Option(64, "--dim", min=8, help="Embedding and hidden width"),
    limit: int = typer.Option(0, "--limit", min=0, help="Train on only the last N sessions (0 = all), for a quick run"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (version, metrics, publish result)"),
) -> None:
    """Train the deep session model on a dataset folder and write a versioned artifact.

    The last 5% of the training sessions are the validation slice: the best epoch on it is kept and its
    HR@20 / MRR@20 go into the artifact's metrics.json. To train from the Kafka event log instead, use
    `freshrec trainer --once --since TIME`. Example: freshrec train --data ../shared/data/diginetica --epochs 6
    """
    from contracts.artifacts import ArtifactError
    from models.deep.artifact import publish
    from models.deep.recommender import DeepRecommender
    from contracts.datasets import DatasetError, iter_sessions, resolve

    try:
        sessions = [[str(i) for i in items] for _, items in iter_sessions(resolve(data, "train_sessions"))]
    except (DatasetError, OSError) as exc:
        raise _fail(f"--data {data}: {exc}") from None
    if limit:
        sessions = sessions[-limit:]
    if sum(len(s) >= 2 for s in sessions) < 2:
        raise _fail(f"--data {data}: fewer than 2 sessions with 2+ items; nothing to learn from")
    console = Console(stderr=True, quiet=as_json)
    model = DeepRecommender(epochs=epochs, threads=threads, dim=dim)
    start = time.perf_counter()
    columns = (TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=as_json) as bar:
        task = bar.add_task("train", total=None)

        def on_batch(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        def on_epoch(r) -> None:
            console.print(f"epoch {r.epoch}: loss {r.loss:.4f}  validation HR@20 {r.val_hr:.2f}  "
                          f"MRR@20 {r.val_mrr:.2f}  ({r.seconds:.0f}s)")

        model.fit(sessions, on_batch=on_batch, on_epoch=on_epoch)
    model.train_info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    store = _store(out)
    try:
        version_dir = model.save(store)
        result = publish(store, version_dir) if publish_it else None
    except (ArtifactError, OSError) as exc:
        raise _fail(f"artifact not written or not published: {exc}") from None
    report = {"version": version_dir.name, "path": str(version_dir), "validation": model.validation,
              "train": model.train_info, "seconds": round(time.perf_counter() - start, 1),
              "published": None if result is None else result.published,
              "current": None if result is None else result.current,
              "reason": None if result is None else result.reason}
    if as_json:
        typer.echo(json.dumps(report))
        return
    console.quiet = False
    console.print(f"wrote {version_dir}")
    if result is not None:
        console.print(("published " if result.published else "NOT published ") + f"{result.version}: {result.reason}")


def bench(
    store: Path | None = typer.Option(None, "--store", metavar="DIR", envvar=f"{ENV_PREFIX}DEEP_STORE",
                                      show_envvar=True, help="Artifact store whose current version is measured"),
    batch: int = typer.Option(256, "--batch", min=1, help="Sessions scored per onnxruntime call (a take window)"),
    sessions: int = typer.Option(4096, "--sessions", min=1, help="Sessions scored in total"),
    k: int = typer.Option(20, "--k", min=1, help="Items returned per session"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only"),
) -> None:
    """Time batched ONNX scoring of the published deep model: ms per session (target <= 0.5)."""
    import numpy as np

    from contracts.artifacts import ArtifactError
    from models.deep.artifact import load_current

    path = _store(store)
    try:
        scorer = load_current(path)
    except ArtifactError as exc:
        raise _fail(str(exc)) from None
    rng = np.random.default_rng(0)
    items = scorer.vocab.items
    lists = [[items[j] for j in rng.integers(0, len(items), size=int(rng.integers(1, 8)))] for _ in range(sessions)]
    scorer.top_k_many(lists[:batch], k)  # warm-up: onnxruntime plans memory on the first run
    times = []
    cpu_start = time.process_time()
    for b in range(0, sessions, batch):
        t = time.perf_counter()
        scorer.top_k_many(lists[b:b + batch], k)
        times.append((time.perf_counter() - t) * 1000)
    # CPU time next to wall time: on a shared machine the wall figure mostly measures the neighbours.
    cpu_ms = (time.process_time() - cpu_start) * 1000
    total_ms = sum(times)
    out = {"benchmark": "deep", "version": scorer.version, "items": len(items), "batch": batch,
           "sessions": sessions, "k": k, "ms_per_session": round(total_ms / sessions, 4),
           "cpu_ms_per_session": round(cpu_ms / sessions, 4),
           "batch_ms_p50": round(float(np.percentile(times, 50)), 2),
           "batch_ms_p95": round(float(np.percentile(times, 95)), 2), "threads": 1}
    typer.echo(json.dumps(out) if as_json else json.dumps(out, indent=1))
