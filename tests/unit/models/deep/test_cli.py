from __future__ import annotations

import json

from typer.testing import CliRunner

from contracts.artifacts import current_version
from freshrec.cli import app
from tests.unit.models.deep.conftest import cycle_sessions

runner = CliRunner()


def write_dataset(folder, sessions):
    folder.mkdir()
    lines = ["session_id\titems"] + [f"{n}\t{' '.join(s[1:] for s in sess)}" for n, sess in enumerate(sessions, 1)]
    (folder / "train_sessions.tsv").write_text("\n".join(lines) + "\n")


def test_train_writes_and_publishes_then_bench_measures_it(tmp_path):
    data, store = tmp_path / "data", tmp_path / "store"
    write_dataset(data, cycle_sessions(300))  # items "i3" are written as "3": integer ids like the datasets
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(store), "--epochs", "1",
                                 "--dim", "16", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["published"] is True and current_version(store) == report["version"]
    assert set(report["validation"]) >= {"hr@20", "mrr@20"}

    bench = runner.invoke(app, ["bench", "deep", "--store", str(store), "--sessions", "64", "--batch", "32", "--json"])
    assert bench.exit_code == 0, bench.output
    figures = json.loads(bench.output.strip().splitlines()[-1])
    assert figures["version"] == report["version"] and figures["ms_per_session"] > 0


def test_bad_dataset_folder_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "missing")])
    assert result.exit_code == 2
    assert "train_sessions.tsv" in result.output and "Traceback" not in result.output
