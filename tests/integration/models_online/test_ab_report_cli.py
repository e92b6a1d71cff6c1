"""``freshrec ab report --json`` against the real Redis: fields and typed values per variant."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from freshrec.cli import app

pytestmark = pytest.mark.integration


def test_ab_report_json(redis_client, unique, monkeypatch):
    prefix = f"t{unique}:"
    redis_client.hset(f"{prefix}ab:exp{unique}:online", mapping={"impressions": 100, "clicks": 19, "orders": 2,
                                                                 "preq_n": 10, "preq_hits": 6,
                                                                 "preq_rr_e6": 3_000_000, "preq_rr2_e6": 2_000_000})
    redis_client.hset(f"{prefix}ab:exp{unique}:fusion", mapping={"impressions": 100, "clicks": 4})
    monkeypatch.setenv("FRESHREC_REDIS_PREFIX", prefix)
    result = CliRunner().invoke(app, ["ab", "report", "--experiment", f"exp{unique}", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["variant"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"online", "fusion"}
    online = rows["online"]
    assert online["impressions"] == 100 and online["clicks"] == 19 and isinstance(online["ctr"], float)
    assert online["ctr_ci"][0] < 0.19 < online["ctr_ci"][1] and online["hr"] == pytest.approx(60.0)
    assert rows["fusion"]["hr"] is None and rows["fusion"]["ctr"] == pytest.approx(0.04)
    table = CliRunner().invoke(app, ["ab", "report", "--experiment", f"exp{unique}"])
    assert table.exit_code == 0 and "A/B report" in table.stdout
