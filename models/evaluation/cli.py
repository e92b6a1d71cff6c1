"""``freshrec evaluate``: one model or a comparison on a public dataset, offline or prequential."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from contracts.datasets import DatasetError, load_dataset
from freshrec.progress import Progress
from freshrec.settings import Settings
from models.evaluation import registry
from models.evaluation.compare import default_plot_path, save_plot, table
from models.evaluation.protocol import MODES, EvalResult, StrData, evaluate as run_protocol, progress_total


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _dataset_dir(value: str) -> Path:
    path = Path(value)
    if path.is_dir():
        return path
    root = Settings().data_dir
    if root is not None and (root / value).is_dir():
        return root / value
    hint = f" or a dataset name under {root}" if root else " (or set FRESHREC_DATA_DIR and pass a dataset name)"
    raise _fail(f"--dataset {value!r} is not a folder; pass a folder in the ../shared/data format{hint}")


def _selection_line(result: EvalResult) -> str:
    sel = result.selection
    if not sel:
        return ""
    retunes = sel.get("retunes", [])
    line = (f"  re-tuned {len(retunes)} times on the log seen so far, {sum(bool(r.get('published')) for r in retunes)} "
            f"published") if retunes else ""
    if "validation" not in sel:
        return line
    v, d = sel["validation"], sel["defaults_validation"]
    chosen = (f"  selected on validation ({sel['cases']} cases, {sel['candidates']} candidates, {sel['seconds']:.0f}s): "
              f"{json.dumps(sel['chosen'])} HR {v['hr']:.2f} MRR {v['mrr']:.2f} vs defaults HR {d['hr']:.2f} "
              f"MRR {d['mrr']:.2f}")
    return f"{line}\n{chosen}" if line else chosen


#: How a model is driven besides directly: ``freshrec`` registers "worker" (streams/worker_path.py),
#: the path ``freshrec worker`` drives models along; models/ itself never imports the stream stage.
PATHS: dict[str, Callable[[object], object]] = {}


def _run_one(name: str, data: StrData, mode: str, k: int, warm: bool, select: bool,
             console: Console | None, path: str = "model") -> EvalResult:
    try:
        model = registry.create(name, select=select)
    except (registry.RegistryError, TypeError, ValueError) as exc:
        raise _fail(f"cannot build model {name!r}: {exc}") from None
    if path != "model":
        model = PATHS[path](model)
    try:
        if console is None:
            return run_protocol(model, data, mode=mode, k=k, name=name, warm_start=warm)
        columns = (TextColumn(f"{name} [{mode}]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(name, total=progress_total(data, mode))
            result = run_protocol(model, data, mode=mode, k=k, name=name, warm_start=warm,
                                  progress=lambda n: bar.advance(task, n))
    except RuntimeError as exc:   # e.g. a model that cannot score before fit, run prequentially from nothing
        hint = " (try --warm-start)" if mode == "prequential" and not warm else ""
        raise _fail(f"model {name!r} failed in {mode} mode: {exc}{hint}") from None
    console.print(f"{name}: HR@{k} {result.hr:.2f}  MRR@{k} {result.mrr:.2f}  ({result.seconds:.1f}s)")
    if result.selection:
        console.print(_selection_line(result), markup=False, highlight=False)
    return result


def evaluate(
    dataset: str = typer.Option(..., "--dataset", "-d", metavar="DIR",
                                help="Dataset folder (train_sessions.tsv[.gz], test_sessions.tsv, test_cases.tsv), "
                                     "or the name of one under $FRESHREC_DATA_DIR"),
    model: str = typer.Option("", "--model", "-m", help=f"Model to evaluate: {', '.join(registry.names())}"),
    compare: str = typer.Option("", "--compare", "-c", metavar="A,B,C",
                                help="Comma-separated models to evaluate one after another, side by side"),
    mode: str = typer.Option("offline", "--mode", help="offline: fit then rank every test case; prequential: "
                                                      "replay train+test click by click, score before learning"),
    k: int = typer.Option(20, "--k", min=1, help="List length for HR@K, MRR@K, NDCG@K, coverage"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON only (one object; a list with --compare)"),
    plot: Path | None = typer.Option(None, "--plot", help="Where --compare saves its PNG "
                                                          "[default: out/compare-<dataset>-<mode>.png]"),
    warm_start: bool = typer.Option(False, "--warm-start", help="Prequential: fit on the training sessions "
                                    "instead of replaying them (models that need a fit, e.g. deep)"),
    path: str = typer.Option("model", "--path",
                             help="model: learn_one and recommend_many on the model itself; worker: as "
                                  "`freshrec worker` drives it (co-visitation counted on an item side with the "
                                  "worker's settings, reaching the model as published neighbour lists every "
                                  "FRESHREC_NEIGHBORS_PUBLISH_S of event time), with the trainer's re-tunes on the "
                                  "log seen so far on its schedule in event time (FRESHREC_TRAINER_TUNE, "
                                  "FRESHREC_TRAINER_MIN_EVENTS, FRESHREC_TRAINER_INTERVAL_MIN; --json lists them "
                                  "under selection.retunes); prequential mode only"),
    select: bool = typer.Option(True, "--select/--no-select",
                                help="Models with a search space choose their settings in fit, on the newest 10% "
                                     "of the training sessions (--json reports the choice under 'selection'); "
                                     "--no-select runs the class defaults"),
) -> None:
    """Evaluate recommenders on a public session dataset with the papers' protocol.

    Prints HR@K and MRR@K in percent, NDCG@K and item coverage as fractions, the number of cases and
    the seconds taken (fit plus scoring). Example: freshrec evaluate -d ../shared/data/diginetica -m vsknn
    """
    if mode not in MODES:
        raise _fail(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if path != "model" and path not in PATHS:
        raise _fail(f"--path must be model or one of {', '.join(PATHS) or '(none registered)'}, got {path!r}")
    if path != "model" and mode != "prequential":
        raise _fail("--path worker replays events as the worker gets them: use it with --mode prequential")
    names = [n.strip() for n in compare.split(",") if n.strip()] if compare else ([model] if model else [])
    if not names or (model and compare):
        raise _fail("pass exactly one of --model NAME or --compare A,B,C")
    unknown = [n for n in names if n not in registry.names()]
    if unknown:
        raise _fail(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(registry.names())}")
    folder = _dataset_dir(dataset)
    console = None if as_json else Console(stderr=True)
    try:
        if console:
            with console.status(f"loading {folder}"):
                data = StrData.from_dataset(load_dataset(folder))
        else:
            data = StrData.from_dataset(load_dataset(folder))
    except DatasetError as exc:
        raise _fail(str(exc)) from None
    results = [_run_one(n, data, mode, k, warm_start, select, console, path) for n in names]
    if as_json:
        out = [r.to_json() for r in results]
        typer.echo(json.dumps(out if compare else out[0]))
    elif compare:
        Console().print(table(results))
    else:
        Console().print_json(json.dumps(results[0].to_json()))
    if compare:
        path = save_plot(results, plot or default_plot_path(data.name, mode))
        if console:
            console.print(f"plot saved to {path}")
