"""Readers that turn log files into wire events for replay, one per supported format.

Every reader yields, in file order, either ``(user_id, ts, value)`` with ``value`` the event's JSON
as sent to Kafka, or :class:`Bad` (line number and reason) for input it could not use: the replay
counts and reports those and goes on. Formats:

* ``events``: JSONL in our own schema (``contracts.events.Event``), one event per line.
* ``otto``: the OTTO dataset's JSONL, one session per line: ``{"session": int, "events": [{"aid":
  int, "ts": int, "type": "clicks"|"carts"|"orders"}]}``. OTTO ``clicks`` are product-page views,
  so they become ``view``; the session id is both the user id and the session id.
* ``tsv``: the ``session_id<TAB>items`` files of ``../shared/data``. They carry no time, so
  timestamps come from the dataset contract's clock (:func:`contracts.datasets.click_ts`, the one
  evaluation uses too); the same line always gets the same ts, so a resumed replay (``--from``)
  continues the same clock.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import msgspec

from contracts.datasets import click_ts
from contracts.events import Event, EventError, decode_event, encode_event
from contracts.ids import ID_CHARS

FORMATS = ("events", "otto", "tsv")
OTTO_TYPES = {"clicks": "view", "carts": "cart", "orders": "order"}
_PAGES = {"view": "detail", "cart": "detail", "order": "cart"}


class FormatError(ValueError):
    """The file as a whole cannot be read in the chosen format (missing, wrong header, unknown format)."""


@dataclass(frozen=True, slots=True)
class Bad:
    """One unusable input record: ``line`` (1-based) and why; ``part`` numbers an event inside a line."""

    line: int
    reason: str
    part: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" event {self.part}" if self.part is not None else "")
        return f"{where}: {self.reason}"


Record = tuple[str, int, bytes] | Bad


class _OttoEvent(msgspec.Struct):
    aid: int
    ts: int
    type: str


class _OttoSession(msgspec.Struct):
    session: int
    events: list[_OttoEvent]


_otto_decoder = msgspec.json.Decoder(_OttoSession)
_SAFE = re.compile(rf"[^{ID_CHARS}]+")


def open_text(path: Path) -> IO[bytes]:
    if not path.is_file():
        raise FormatError(f"{path} is not a file; pass a .jsonl, .jsonl.gz, .tsv or .tsv.gz log")
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def detect_format(path: Path) -> str:
    """``tsv`` by name, else peek at the first line: OTTO sessions have ``session`` and ``events``."""
    name = path.name.removesuffix(".gz")
    if name.endswith(".tsv"):
        return "tsv"
    with open_text(path) as f:
        first = f.readline()
    try:
        obj = msgspec.json.decode(first)
    except msgspec.DecodeError:
        raise FormatError(f"{path}: the first line is not JSON; pass --format events|otto|tsv") from None
    if isinstance(obj, dict) and "session" in obj and "events" in obj:
        return "otto"
    return "events"


def default_id_prefix(path: Path) -> str:
    """Event ids must be unique across sources: prefix them with the dataset's folder name."""
    return _SAFE.sub("_", path.resolve().parent.name)[:24] or "replay"


def read(path: Path, fmt: str, id_prefix: str | None = None) -> Iterator[Record]:
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    prefix = id_prefix or default_id_prefix(path)
    reader = {"events": read_events, "otto": read_otto, "tsv": read_tsv}[fmt]
    return reader(path) if fmt == "events" else reader(path, prefix)


def read_events(path: Path) -> Iterator[Record]:
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            try:
                ev = decode_event(line)
            except EventError as exc:
                yield Bad(lineno, str(exc))
                continue
            yield ev.user_id, ev.ts, line


def read_otto(path: Path, prefix: str = "otto") -> Iterator[Record]:
    with open_text(path) as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                sess = _otto_decoder.decode(line)
            except msgspec.DecodeError as exc:
                yield Bad(lineno, f"not an OTTO session ({exc})")
                continue
            sid = str(sess.session)
            for k, e in enumerate(sess.events):
                kind = OTTO_TYPES.get(e.type)
                if kind is None:
                    yield Bad(lineno, f"type: {e.type!r} is not clicks, carts or orders", k)
                    continue
                ts = e.ts * 1000 if e.ts < 100_000_000_000 else e.ts  # the Kaggle release uses seconds
                try:
                    ev = Event(event_id=f"{prefix}.{sid}.{k}", ts=ts, user_id=sid, session_id=sid,
                               item_id=str(e.aid), type=kind, page=_PAGES[kind])
                    value = encode_event(ev)
                    decode_event(value)  # the constructor does not check limits; decoding does
                except (ValueError, EventError) as exc:
                    yield Bad(lineno, str(exc), k)
                    continue
                yield sid, ts, value


def read_tsv(path: Path, prefix: str = "tsv") -> Iterator[Record]:
    with open_text(path) as f:
        header = f.readline().decode("utf-8", "replace").rstrip("\r\n").split("\t")
        if header[:2] != ["session_id", "items"]:
            raise FormatError(f"{path}: header must be 'session_id<TAB>items', got {header!r}")
        clicks = sessions = 0
        for lineno, raw in enumerate(f, start=2):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                continue
            sid, sep, items = line.partition("\t")
            ids = items.split()
            if (not sep or not sid.isdigit() or len(sid) > 20 or not ids
                    or not all(x.isdigit() and len(x) <= 20 for x in ids)):
                yield Bad(lineno, "expected '<integer session id><TAB><space-separated integer item ids>'")
                continue
            for k, item in enumerate(ids):
                ts = click_ts(sessions, clicks, k)
                yield sid, ts, encode_event(Event(event_id=f"{prefix}.{sid}.{k}", ts=ts, user_id=sid,
                                                  session_id=sid, item_id=item, type="view"))
            clicks += len(ids)
            sessions += 1
