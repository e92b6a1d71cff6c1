"""A handmade dataset folder small enough to compute every metric by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

TRAIN = [[1, 2, 3], [2, 3, 4], [1, 2], [3, 4, 5]]
TEST = [[2, 3, 4], [1, 2, 2]]


def write_dataset(folder: Path, train=TRAIN, test=TEST) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["session_id\titems"] + [f"{n}\t{' '.join(map(str, s))}" for n, s in enumerate(train, 1)]
    (folder / "train_sessions.tsv").write_text("\n".join(rows) + "\n")
    start = len(train) + 1
    rows = ["session_id\titems"] + [f"{n}\t{' '.join(map(str, s))}" for n, s in enumerate(test, start)]
    (folder / "test_sessions.tsv").write_text("\n".join(rows) + "\n")
    cases = ["prefix\tnext_item"]
    for s in test:   # the papers' augmentation: longest prefix first
        cases += [f"{' '.join(map(str, s[:n]))}\t{s[n]}" for n in range(len(s) - 1, 0, -1)]
    (folder / "test_cases.tsv").write_text("\n".join(cases) + "\n")
    return folder


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "tiny")
