"""``freshrec replay PATH``: send a log (our JSONL, OTTO JSONL or session TSV) to the events topic.

The loop is a plain function over records (see :mod:`producers.replay_formats`) and a ``send``
callable, so tests drive it without Kafka. Records are counted from the start of the file, good
and malformed alike, which is what ``--from`` and ``--limit`` refer to: a replay that stopped after
N records resumes with ``--from N`` (the ``--json`` summary prints it as ``next_from``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import typer

from freshrec.kafka_security import aiokafka_config
from freshrec.settings import Settings
from producers.replay_formats import FORMATS, Bad, FormatError, Record, detect_format, read

MAX_SHOWN_ERRORS = 5


@dataclass
class ReplayStats:
    start: int = 0          # the --from position
    records: int = 0        # records consumed from --from on (good + malformed)
    sent: int = 0
    malformed: int = 0
    errors: list[str] = field(default_factory=list)  # the first few, with line numbers
    seconds: float = 0.0

    @property
    def next_from(self) -> int:
        return self.start + self.records

    def as_dict(self) -> dict:
        out = asdict(self)
        out["next_from"] = self.next_from
        out["events_per_s"] = round(self.sent / self.seconds, 1) if self.seconds > 0 else None
        out["seconds"] = round(self.seconds, 3)
        return out


def parse_speed(text: str) -> float | None:
    """``max`` -> None (no pacing); ``k`` -> k times real time."""
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither 'max' nor a number (e.g. 1 for real time, 60 for 60x)")
    if not speed > 0:
        raise typer.BadParameter("speed must be > 0 (or 'max')")
    return speed


def replay(records: Iterable[Record], send: Callable[[str, bytes], None], *, start: int = 0,
           limit: int | None = None, speed: float | None = None,
           on_progress: Callable[[ReplayStats], None] | None = None, progress_every: int = 5000,
           clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> ReplayStats:
    """Send records ``start .. start+limit`` in file order; pace by event time when ``speed`` is set.

    Pacing follows the largest ts seen so far, so a file whose sessions overlap in time (OTTO) is
    replayed in file order without waiting on timestamps that go backwards.
    """
    stats = ReplayStats(start=start)
    stop = None if limit is None else start + limit
    t0 = clock()
    first_ts = watermark = None
    for rec in itertools.islice(records, start, stop):
        stats.records += 1
        if isinstance(rec, Bad):
            stats.malformed += 1
            if len(stats.errors) < MAX_SHOWN_ERRORS:
                stats.errors.append(str(rec))
            continue
        user, ts, value = rec
        if speed is not None:
            if first_ts is None:
                first_ts = watermark = ts
            elif ts > watermark:
                watermark = ts
                delay = t0 + (ts - first_ts) / 1000.0 / speed - clock()
                if delay > 0.001:
                    sleep(delay)
        send(user, value)
        stats.sent += 1
        if on_progress is not None and stats.records % progress_every == 0:
            stats.seconds = clock() - t0
            on_progress(stats)
    stats.seconds = clock() - t0
    return stats


def replay_command(
    path: Path = typer.Argument(..., help="Log file: .jsonl (our events or OTTO sessions) or session .tsv[.gz]."),
    fmt: str = typer.Option("auto", "--format", help=f"auto, or one of {', '.join(FORMATS)}."),
    speed: str = typer.Option("max", help="'max' (as fast as possible) or k: real time x k, from event timestamps."),
    limit: int | None = typer.Option(None, min=1, help="Stop after this many records."),
    start: int = typer.Option(0, "--from", min=0, help="Resume at record N (the `next_from` of an earlier run)."),
    topic: str | None = typer.Option(None, envvar="FRESHREC_TOPIC_EVENTS", show_envvar=True,
                                     help="Target topic (default: the events topic)."),
    id_prefix: str | None = typer.Option(None, help="Event id prefix for OTTO/TSV (default: the file's folder name)."),
    as_json: bool = typer.Option(False, "--json", help="Print the counts as one JSON object at the end."),
) -> None:
    """Replay a log into Kafka (key = user id, so each user's events stay ordered in one partition).

    Malformed records are counted and the first few reported with their line numbers; the replay goes on.
    """
    from producers.batch_out import BatchSender
    from producers.kafka_out import EventProducer, ProducerError, ensure_topics
    from producers.progress import progress_bar

    settings = Settings()
    speed_k = parse_speed(speed)
    try:
        kind = detect_format(path) if fmt == "auto" else fmt
        records = read(path, kind, id_prefix)
        topic = topic or settings.topic_events
        ensure_topics(settings, events=topic)
        # Full speed ships whole batches (C-built); a paced replay needs kafka-python's linger instead.
        out = (BatchSender(settings.kafka_bootstrap, client_id="freshrec-replay", pack_max=settings.producer_pack_max,
                           pack_topics=frozenset({topic}), **aiokafka_config(settings))
               if speed_k is None else EventProducer.from_settings(settings, client_id="freshrec-replay",
                                                                   topic_events=topic))
    except (FormatError, ProducerError) as exc:
        _fail(str(exc))
    try:
        with progress_bar(f"replay {path.name} ({kind})", total=limit, quiet=False) as bar:
            stats = replay(records, lambda user, value: out.send_raw(topic, user.encode(), value),
                           start=start, limit=limit, speed=speed_k,
                           on_progress=lambda s: bar(s.records, f"{s.sent} sent, {s.malformed} malformed"))
            bar(stats.records, f"{stats.sent} sent, {stats.malformed} malformed; flushing")
            out.flush()
    except (FormatError, ProducerError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        out.flush()
        raise typer.Exit(130)
    finally:
        out.close()
    stats.seconds = max(stats.seconds, 1e-9)
    _report(stats, kind, topic, as_json)
    if stats.malformed and stats.sent == 0:
        raise typer.Exit(1)


def _report(stats: ReplayStats, kind: str, topic: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"format": kind, "topic": topic, **stats.as_dict()}))
        return
    typer.echo(f"sent {stats.sent} events to {topic} in {stats.seconds:.1f}s "
               f"({stats.as_dict()['events_per_s']} events/s); next --from {stats.next_from}")
    if stats.malformed:
        typer.secho(f"{stats.malformed} malformed record(s) skipped; first ones:", err=True, fg=typer.colors.YELLOW)
        for err in stats.errors:
            typer.secho(f"  {err}", err=True, fg=typer.colors.YELLOW)


def _fail(message: str):
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)
