import json

import typer
from typer.testing import CliRunner

from models.evaluation.cli import evaluate

app = typer.Typer()
app.command()(evaluate)
runner = CliRunner()


def test_json_output_has_the_documented_fields(tiny_dir):
    res = runner.invoke(app, ["--dataset", str(tiny_dir), "--model", "pop", "--k", "2", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert list(out) == ["dataset", "model", "mode", "k", "hr", "mrr", "ndcg", "coverage", "cases", "seconds"]
    assert out["hr"] == 75.0 and out["model"] == "pop" and out["cases"] == 4


def test_compare_prints_a_list_and_saves_the_plot(tiny_dir, tmp_path):
    plot = tmp_path / "cmp.png"
    res = runner.invoke(app, ["-d", str(tiny_dir), "--compare", "pop,spop,sknn", "--mode", "prequential",
                              "--json", "--plot", str(plot)])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert [r["model"] for r in out] == ["pop", "spop", "sknn"]
    assert all(r["mode"] == "prequential" for r in out)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_table_output_without_json(tiny_dir, tmp_path):
    res = runner.invoke(app, ["-d", str(tiny_dir), "-c", "pop,spop", "--plot", str(tmp_path / "p.png")])
    assert res.exit_code == 0, res.output
    assert "spop" in res.stdout and "HR@20" in res.stdout


def test_bad_input_is_a_message_not_a_traceback(tiny_dir, tmp_path):
    cases = [
        (["-d", str(tmp_path / "missing"), "-m", "pop"], "not a folder"),
        (["-d", str(tiny_dir), "-m", "nope"], "unknown model"),
        (["-d", str(tiny_dir)], "exactly one of"),
        (["-d", str(tiny_dir), "-m", "pop", "--mode", "batch"], "--mode"),
        (["-d", str(tmp_path), "-m", "pop"], "train_sessions"),
    ]
    for argv, message in cases:
        res = runner.invoke(app, argv)
        assert res.exit_code == 2, (argv, res.output)
        assert message in res.output and "Traceback" not in res.output


def test_dataset_name_resolves_under_data_dir(tiny_dir, monkeypatch):
    monkeypatch.setenv("FRESHREC_DATA_DIR", str(tiny_dir.parent))
    res = runner.invoke(app, ["--dataset", tiny_dir.name, "--model", "spop", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["dataset"] == "tiny"
