"""The session dataset format of ``../shared/data`` (``train_sessions.tsv[.gz]``, ...) and its clock.

Replay (producers) turns these files into events; evaluation and training (models) read them directly;
both must agree on what a line means and on the timestamps it gets, or the evaluated stream is not the
replayed one. The datasets are never part of the repository: every loader takes a path. Format (one
header line): ``session_id<TAB>items`` with space-separated integer item ids, oldest first; test cases
are ``prefix<TAB>next_item``.

The files carry no time, so both sides synthesise the same clock (:func:`click_ts`): strictly
increasing in file order, 1 s between clicks and 60 s between sessions, from :data:`TSV_BASE_MS`.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


TSV_BASE_MS = 1_600_000_000_000  # 2020-09-13, well inside the event schema's sane range
TSV_CLICK_MS = 1_000
TSV_SESSION_GAP_MS = 60_000


def click_ts(session_index: int, clicks_before: int, position: int) -> int:
    """The synthetic time of click ``position`` (0-based) of the ``session_index``-th session (0-based)
    of a file, ``clicks_before`` being the clicks of all earlier sessions."""
    return TSV_BASE_MS + session_index * TSV_SESSION_GAP_MS + (clicks_before + position) * TSV_CLICK_MS


class DatasetError(ValueError):
    """The folder or a file in it is not in the expected format; the message says where."""


def resolve(folder: Path, stem: str) -> Path:
    """``stem.tsv`` or ``stem.tsv.gz`` inside ``folder``."""
    for name in (f"{stem}.tsv", f"{stem}.tsv.gz"):
        path = folder / name
        if path.exists():
            return path
    raise DatasetError(f"{folder} has no {stem}.tsv or {stem}.tsv.gz (expected the ../shared/data format)")


def _open(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _rows(path: Path, columns: list[str]) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a TSV file whose header starts with ``columns``."""
    with _open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:len(columns)] != columns:
            raise DatasetError(f"{path}: header must be '{'<TAB>'.join(columns)}', got {header!r}")
        for lineno, line in enumerate(f, start=2):
            yield lineno, line.rstrip("\n")


def iter_sessions(path: Path) -> Iterator[tuple[int, list[int]]]:
    """Yield ``(session_id, items)`` from a session file, in file (= time) order."""
    for lineno, line in _rows(path, ["session_id", "items"]):
        sid, sep, items = line.partition("\t")
        if not sep:
            raise DatasetError(f"{path}:{lineno}: missing tab between session id and items")
        try:
            parsed = int(sid), [int(x) for x in items.split()]
        except ValueError:
            raise DatasetError(f"{path}:{lineno}: expected an integer session id and item ids") from None
        yield parsed


def iter_cases(path: Path) -> Iterator[tuple[list[int], int]]:
    """Yield ``(prefix, next_item)`` test cases in file order."""
    for lineno, line in _rows(path, ["prefix", "next_item"]):
        prefix, _, nxt = line.partition("\t")
        try:
            yield [int(x) for x in prefix.split()], int(nxt)
        except ValueError:
            raise DatasetError(f"{path}:{lineno}: expected integer item ids") from None


@dataclass
class SessionDataset:
    name: str
    train: list[list[int]]
    test: list[list[int]]
    cases: list[tuple[list[int], int]]

    @property
    def n_items(self) -> int:
        return len({i for s in self.train for i in s} | {i for s in self.test for i in s})


def load_dataset(folder: str | Path) -> SessionDataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder; pass a dataset folder such as ../shared/data/diginetica")
    train = [items for _, items in iter_sessions(resolve(folder, "train_sessions"))]
    test = [items for _, items in iter_sessions(resolve(folder, "test_sessions"))]
    cases = list(iter_cases(resolve(folder, "test_cases")))
    return SessionDataset(folder.name, train, test, cases)
