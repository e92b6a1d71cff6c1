"""`freshrec experiment` on a short run: the report's shape, and each arm serving its own kind of list.

Fifteen simulated minutes at 60x with a 5-minute batch period: a worker of its own deployment serves
popular / batch / fusion / online to the simulated shop, which reads and clicks the lists.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from contracts.redis_keys import BODY_FIELD, Keys, decode_rec_list
from freshrec.experiment import analysis
from freshrec.experiment.run import SALT, Config, deployment_settings, remove_deployment, run
from models.online.ab import assign
from models.online.batch import BatchClock

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

VARIANTS = ["popular", "batch", "fusion", "online"]


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    from freshrec.settings import Settings

    out = tmp_path_factory.mktemp("experiment")
    cfg = Config(variants=VARIANTS, hours=0.25, clock=60, users=160, items=120, rate=8, seed=11,
                 batch_minutes=5, bin_s=120)
    report = run(cfg, out, keep=True, echo=lambda line: None, progress=False)
    exp_settings = deployment_settings(Settings(), report["deployment"]["id"], cfg)
    yield cfg, report, out, exp_settings
    remove_deployment(exp_settings, report["deployment"]["id"])


def test_report_has_every_variant_metric_interval_the_shift_and_the_plot(short_run):
    cfg, report, out, _ = short_run
    assert set(report["variants"]) == set(VARIANTS)
    for v, row in report["variants"].items():
        assert row["users"] > 0 and row["impressions"] > 0, (v, row)
        for metric in analysis.METRICS:
            r = row[metric]
            assert r["lo"] is not None and r["lo"] <= r["value"] <= r["hi"], (v, metric, r)
    shift = report["shift"]
    assert set(shift["follow_s"]) == set(VARIANTS) and len(shift["categories"]) == 2 and 0 < shift["target"] < 1
    assert set(report["timeline"]["ctr"]) == set(VARIANTS) and report["timeline"]["t_s"]
    assert Path(report["plot"]).stat().st_size > 1000
    assert json.loads((out / "latest.json").read_text())["deployment"]["id"] == report["deployment"]["id"]
    assert report["shop"]["events"] > 1000 and report["shop"]["trending"]
    lag = report["lag"]  # sampled every second while the shop ran
    assert lag["samples"] >= 5 and lag["records_p50"] is not None and lag["stream_s_max"] is not None


def test_each_variant_serves_its_own_kind_of_list(short_run):
    cfg, report, _, exp_settings = short_run
    events, _ = analysis.read_log(Path(report["deployment"]["events_log"]))
    shares = {v: 1.0 for v in VARIANTS}
    kind = {u: assign(u, SALT, shares) for u in {e["user_id"] for e in events}}
    ts_of = {e["event_id"]: e["ts"] for e in events}
    served: dict[str, list[str]] = defaultdict(list)
    for e in events:
        if e["type"] == "impression" and e["list_id"] in ts_of:
            assert e["variant"] == kind[e["user_id"]]  # the list carries the user's own arm
            served[e["user_id"]].append(e["list_id"])

    # batch: one list per refresh period, computed at the user's first event of the period
    clock = BatchClock(int(cfg.batch_minutes * 60_000), salt=f"{SALT}:batch")
    changes = {v: [0, 0] for v in VARIANTS}
    for user, lists in served.items():
        if kind[user] == "batch":
            periods = defaultdict(set)
            for list_id in lists:
                periods[clock.boundary(user, ts_of[list_id])].add(list_id)
            assert all(len(ids) == 1 for ids in periods.values()), (user, dict(periods))
        changes[kind[user]][0] += sum(a != b for a, b in zip(lists, lists[1:]))
        changes[kind[user]][1] += len(lists)
    rate = {v: c / max(n, 1) for v, (c, n) in changes.items()}
    assert rate["batch"] < 0.5 * min(rate["online"], rate["fusion"]), rate

    # popular: every popular user's list is trending items (of the session's categories, then overall)
    import redis

    client = redis.Redis.from_url(exp_settings.redis_url)
    keys = Keys(exp_settings.redis_prefix)
    popular = [u for u in served if kind[u] == "popular"]
    bodies = [client.hget(keys.user_recs(u), BODY_FIELD) for u in popular]
    lists = [decode_rec_list(b) for b in bodies if b is not None]
    client.close()
    assert lists and all(r.items for r in lists)
    reasons = {i.reason for r in lists for i in r.items}
    assert all(x == "trending now" or x.startswith(("popular in ", "popular at ", "rising now in ")) for x in reasons), \
        reasons
