"""The closed-loop experiment in one process: the judge, the worker's session rules and the recommender,
no Kafka, no Redis, no clock. A development loop, not the measurement.

``freshrec experiment`` takes eight minutes of wall time for 1.5 simulated hours and shares two cores
with its worker, broker and Redis; this runs the same shop (:class:`producers.shop.Shop`, unchanged)
against the same recommender (``models.online.recommender:from_settings`` with the experiment's A/B
settings) with the worker's session state (:class:`streams.session.SessionPolicy`), as fast as one
core goes, and reports with the experiment's own analysis (:func:`freshrec.experiment.run.build_report`).

What differs from the worker, so that a change is confirmed with ``freshrec experiment`` before it is
reported: co-visitation is learned in place (the worker publishes neighbour lists every few seconds of
stream time), a user's list is recomputed right after each of their events (the worker takes windows
of up to 20 ms, a quarter of a stream second at 12x), and nothing ever lags.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

from contracts.events import CatalogItem, Event, encode_event, encode_item
from contracts.redis_keys import RecItem, RecList
from freshrec.experiment import run as exp_run
from freshrec.settings import Settings
from producers.shop import Shop
from producers.shop_cli import WARMUP_EVENTS, WARMUP_S
from streams.session import SessionPolicy, SessionState, to_interaction, to_session

LIST_K = 20  # FRESHREC_REC_K's default


def recommender(cfg: exp_run.Config):
    """The worker's recommender under the experiment's deployment settings (``cfg.settings`` included)."""
    from models.online.recommender import from_settings

    values = {k.removeprefix("FRESHREC_").lower(): v for k, v in exp_run.deployment("inproc", cfg).items()}
    return from_settings(Settings(**values))


def simulate(cfg: exp_run.Config, log_path: Path) -> dict:
    """Run the shop against the recommender; the shop's records go to ``log_path`` as ``--log-events`` writes
    them. Returns the shop's summary (what ``freshrec shop --json`` prints)."""
    rec = recommender(cfg)
    lists: dict[str, RecList] = {}

    def read(user_id: str, item_id: str) -> RecList | None:
        return lists.get(user_id)

    start_ms = cfg.start_ms if cfg.start_ms is not None else exp_run.INPROC_START_MS
    rate = cfg.event_rate
    shop = Shop(users=cfg.users, items=cfg.items, rate=rate, seed=cfg.seed, start_ms=start_ms,
                duration_s=cfg.hours * 3600, shift_at_s=cfg.shift_h * 3600, recs_reader=read,
                warmup_s=min(WARMUP_S, WARMUP_EVENTS / rate))
    policy = SessionPolicy()
    states: dict[str, SessionState] = {}
    counts: dict[str, int] = {"events": 0}
    with open(log_path, "wb") as log:
        for _, record in shop.run():
            if isinstance(record, CatalogItem):
                log.write(encode_item(record) + b"\n")
                rec.learn_item(record)
                continue
            ev: Event = record
            log.write(encode_event(ev) + b"\n")
            counts["events"] += 1
            counts[ev.type] = counts.get(ev.type, 0) + 1
            state = states.setdefault(ev.user_id, SessionState())
            if not policy.apply(state, ev) or not ev.is_interaction:
                continue
            rec.learn_one(to_session(ev.user_id, state, drop_last=True), to_interaction(ev))
            # The worker's own step: the user's list after the event, written with the event's id.
            out = rec.recommend_many([to_session(ev.user_id, state, {"page": ev.page})], LIST_K)[0]
            if out is not None:
                lists[ev.user_id] = RecList(items=[RecItem(c.item, c.score, c.reason) for c in out],
                                            event_ts=ev.ts, write_ts=ev.ts, list_id=ev.event_id,
                                            variant=rec.variant_of(ev.user_id))
    return {**counts, "trending": [shop.catalog.leaves[x].path[-1] for x in shop.trending]}


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", default="popular,batch,fusion,online")
    p.add_argument("--hours", type=float, default=1.5)
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="a Settings field for the recommender, e.g. online_trend_slot=-1")
    p.add_argument("--out", type=Path, default=Path("/tmp/freshrec-inproc"))
    a = p.parse_args(argv)
    try:
        overrides = exp_run.parse_settings(a.set)
    except ValueError as exc:
        p.error(str(exc))
    cfg = exp_run.Config(variants=a.variants.split(","), hours=a.hours, users=a.users, seed=a.seed,
                         start_ms=exp_run.INPROC_START_MS, bin_s=max(60.0, a.hours * 3600 / 18), settings=overrides)
    a.out.mkdir(parents=True, exist_ok=True)
    log_path = a.out / f"inproc-{a.seed}-{int(time.time())}.jsonl"
    t0 = time.monotonic()
    summary = simulate(cfg, log_path)
    report = exp_run.build_report(cfg, log_path, summary, cfg.start_ms)
    report["wall_s"] = round(time.monotonic() - t0, 1)
    report["overrides"] = overrides
    report["config"] = asdict(cfg)
    report["events_log"] = str(log_path)
    (a.out / f"report-{log_path.stem}.json").write_text(json.dumps(report))
    from freshrec.experiment.cli import render

    report["json"] = str(a.out / f"report-{log_path.stem}.json")
    print(render(report))
    print(f"wall {report['wall_s']} s")


if __name__ == "__main__":
    main()
