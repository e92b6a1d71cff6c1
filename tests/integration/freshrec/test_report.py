"""`freshrec report` samples the worker's counters in the real Redis and writes one HTML page."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from contracts.redis_keys import Keys
from freshrec.cli import app
from freshrec.report import markdown_tables_to_html, render, sample_stats

pytestmark = pytest.mark.integration


def test_sampling_turns_counters_into_rates_and_freshness(redis_client, unique):
    key = Keys(f"t{unique}:").stats("worker")
    redis_client.hset(key, mapping={"events": 0})
    clock = {"t": 0.0}

    def fake_sleep(dt):  # the worker's side: 500 events per second, all written within 40 ms
        clock["t"] += dt
        redis_client.hincrby(key, "events", 500)
        redis_client.hincrby(key, "fh:40.0", 500)

    samples = sample_stats(redis_client, key, seconds=3, clock=lambda: clock["t"], sleep=fake_sleep)
    assert len(samples) == 4
    assert [s["events_per_s"] for s in samples[1:]] == [500.0, 500.0, 500.0]
    assert samples[-1]["p99_ms"] == 40.0
    page = render(samples, [{"experiment": "e", "variant": "A", "impressions": 10}], "# B\n| a | b |\n|---|---|\n| 1 | 2 |\n",
                  {"events": "1500"})
    assert "data:image/png;base64," in page and "<td>A</td>" in page and "<td>1</td>" in page


def test_report_command_writes_html(redis_client, unique, tmp_path, monkeypatch):
    prefix = f"t{unique}:"
    monkeypatch.setenv("FRESHREC_REDIS_PREFIX", prefix)
    redis_client.hset(Keys(prefix).ab("exp1", "B"), mapping={"impressions": 100, "clicks": 7, "orders": 1})
    out = tmp_path / "r.html"
    result = CliRunner().invoke(app, ["report", "--out", str(out), "--watch", "0"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "A/B variants" in text and "exp1" in text


def test_markdown_tables_escape_html():
    out = markdown_tables_to_html("## x\n| <b> | y |\n|---|---|\n| 1 | 2 |")
    assert "&lt;b&gt;" in out and "<h3>x</h3>" in out
