"""``freshrec trainer``: retrain the deep model from the Kafka event log every T minutes or N events."""

from __future__ import annotations

import json
import logging
import signal
from datetime import datetime, timezone
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from freshrec.progress import Progress
from freshrec.settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)


def _env(name: str) -> dict:
    return {"envvar": f"{ENV_PREFIX}{name}", "show_envvar": True}


def parse_since(value: str | None) -> int | None:
    """``--since``: epoch milliseconds or an ISO-8601 time (UTC when no zone is given)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: give epoch milliseconds or an ISO time such as 2026-11-23T12:00") \
            from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return int(ts.timestamp() * 1000)


def trainer(
    interval_min: float | None = typer.Option(None, "--interval-min", min=0.01, **_env("TRAINER_INTERVAL_MIN"),
                                              help="Retrain at least this often (minutes) when new events arrived"),
    min_events: int | None = typer.Option(None, "--min-events", min=1, **_env("TRAINER_MIN_EVENTS"),
                                          help="Retrain as soon as this many new events are in the log"),
    poll_s: float | None = typer.Option(None, "--poll-s", min=0.1, **_env("TRAINER_POLL_S"),
                                        help="Seconds between checks of the log end"),
    epochs: int | None = typer.Option(None, "--epochs", "-e", min=1, **_env("TRAINER_EPOCHS"),
                                      help="Most epochs per retrain (the best validation epoch is kept)"),
    max_events: int | None = typer.Option(None, "--max-events", min=1, **_env("TRAINER_MAX_EVENTS"),
                                          help="Newest events read from the log per retrain"),
    since: str | None = typer.Option(None, "--since", metavar="TIME",
                                     help="Read only events from this time on (epoch ms or ISO time)"),
    store: Path | None = typer.Option(None, "--store", metavar="DIR", **_env("DEEP_STORE"),
                                      help="Artifact store (default: <cache_dir>/models/deep)"),
    topic: str | None = typer.Option(None, "--topic", **_env("TOPIC_EVENTS"), help="Events topic to read"),
    dim: int = typer.Option(64, "--dim", min=8, help="Embedding and hidden width (a change means a cold start)"),
    threads: int = typer.Option(1, "--threads", min=1, help="torch threads (the machine is shared: keep it low)"),
    tune: bool | None = typer.Option(None, "--tune/--no-tune", **_env("TRAINER_TUNE"),
                                     help="Each round also re-runs the stream model's selection on the newest "
                                          "sessions of the log and publishes a tuning configuration beside the deep "
                                          "artifact when it beats the running one (workers apply it)"),
    once: bool = typer.Option(False, "--once", help="Run one round now and exit (a `train` from the Kafka log)"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON line per round"),
) -> None:
    """Retrain the deep session model from the Kafka event log, warm-started, publishing only if not worse;
    and re-tune the stream model's settings on the same log (--tune, the default).

    Runs until SIGTERM or Ctrl-C (a round in progress stops between batches and writes nothing).
    Example: freshrec trainer --interval-min 30 --min-events 50000
    """
    from models.deep.eventlog import EventLog
    from models.deep.recommender import DeepRecommender
    from models.deep.trainer import Trainer

    try:
        settings = Settings()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    since_ms = parse_since(since)
    retuner = None
    if settings.trainer_tune if tune is None else tune:
        from models.recommender import from_settings as stream_from_settings
        from models.selection.retune import Retuner

        # The model as the worker runs it (page rules, the operator's co-visitation settings).
        retuner = Retuner(stream_from_settings(settings), max_sessions=settings.tuning_max_sessions)
    n_epochs = epochs or settings.trainer_epochs
    loop = Trainer(EventLog.from_settings(settings, topic), store or settings.resolved_deep_store,
                   lambda: DeepRecommender(epochs=n_epochs, dim=dim, threads=threads),
                   interval_s=60.0 * (interval_min or settings.trainer_interval_min),
                   min_events=min_events or settings.trainer_min_events, poll_s=poll_s or settings.trainer_poll_s,
                   inactivity_ms=int(settings.session_inactivity_s * 1000),
                   max_events=max_events or settings.trainer_max_events, since_ms=since_ms,
                   retuner=retuner, half_life_s=settings.covis_half_life_s)
    console = Console(stderr=True, quiet=as_json)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: loop.stop())
    console.print(f"trainer: store {loop.store}, topic {loop.log_reader.topic}; every "
                  f"{loop.interval_s / 60:g} min or {loop.min_events} events")

    def on_round(r) -> None:
        if as_json:
            typer.echo(json.dumps(r.as_dict()))
            return
        word = "published" if r.published else "kept current"
        console.print(f"{r.version or 'no version'}: {word} ({r.reason}); {r.start}; {r.events} events, "
                      f"{r.sessions} sessions, validation {r.validation}, {r.seconds:.0f}s")
        if r.tuning:
            console.print(f"tuning {r.tuning.get('version', '-')}: {r.tuning['reason']}", markup=False)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=as_json) as bar:
        task = bar.add_task("waiting", total=None)

        def on_progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        if not once:
            loop.run(on_round, on_progress=on_progress)
        else:
            from contracts.artifacts import ArtifactError
            from models.deep.trainer import Stopped

            try:
                on_round(loop.run_once(on_progress))
            except LookupError as exc:
                raise typer.BadParameter(str(exc).strip("'\"")) from None
            except Stopped:
                pass
            except (ArtifactError, ValueError, OSError) as exc:
                typer.echo(f"error: no version published: {exc}", err=True)
                raise typer.Exit(1) from None
    console.print("trainer stopped")
