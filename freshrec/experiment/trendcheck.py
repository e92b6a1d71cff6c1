"""How fast and how quietly the rising-category detector names a trend shift, replayed on shop logs.

``python -m freshrec.experiment.trendcheck REPORT.json ...`` reads each run's report (``freshrec
experiment --json``'s file, or ``python -m freshrec.experiment.inproc``'s) and the shop log it names,
rebuilds every user's session with the worker's rules (:class:`streams.session.SessionPolicy`) and
feeds :class:`models.candidates.rising.RisingCategories` exactly as the online recommender does
(:func:`models.candidates.rising.session_vote` on the session before each interaction). It reports,
per run, how many stream seconds after the shift each trendy category was first named, and which
other categories were named in the ``--quiet-min`` minutes before the shift (false alarms) and after
it. ``--set FIELD=VALUE`` overrides a detector parameter, for choosing them on seeds that are then
not reported.

A replay sees the log as the worker saw it, so it judges the detector alone: with the trend slot on,
the lists (and so the clicks) of a run would differ from the log's from the first naming on; votes
exclude clicks on lists (:func:`~models.candidates.rising.session_vote`), so the detector's own
inputs do not.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import msgspec

from contracts.events import Event
from freshrec.experiment.analysis import read_log
from models.candidates.rising import RisingCategories
from streams.session import SessionPolicy, SessionState, to_interaction, to_session


def named_spans(log: Path, detector: RisingCategories) -> tuple[dict[str, list[list[int]]], int]:
    """``category -> [[from_ts, to_ts], ...]`` while the detector named it, and the log's last ts.

    The detector is read after every vote (naming changes only then)."""
    records, category_of = read_log(log)  # the catalog's categories never change within a run
    policy, states = SessionPolicy(), {}
    spans: dict[str, list[list[int]]] = {}
    named: set[str] = set()
    last_ts = 0
    for rec in records:
        ev = msgspec.convert(rec, Event)
        last_ts = max(last_ts, ev.ts)
        state = states.setdefault(ev.user_id, SessionState())
        if not policy.apply(state, ev) or not ev.is_interaction:
            continue
        before = detector.votes
        detector.learn_one(to_session(ev.user_id, state, drop_last=True), to_interaction(ev),
                           category_of.get(ev.item_id), category_of)
        if detector.votes == before:
            continue
        now = {c for c, _ in detector.rising()}
        for c in now - named:
            spans.setdefault(c, []).append([ev.ts, ev.ts])
        for c in named - now:
            spans[c][-1][1] = ev.ts
        named = now
    for c in named:
        spans[c][-1][1] = last_ts
    return spans, last_ts


def judge(spans: dict[str, list[list[int]]], trendy: set[str], shift_ts: int, end_ts: int,
          quiet_ms: int) -> dict:
    """Seconds from the shift to each trendy category's first naming (``None``: never), and the
    categories named (with their number of spans) in the quiet window before the shift and after it."""
    def overlapping(c: str, a: int, b: int) -> int:
        return sum(1 for s, e in spans.get(c, ()) if s < b and e >= a)

    first = {}
    for c in sorted(trendy):
        starts = [max(s, shift_ts) for s, e in spans.get(c, ()) if e >= shift_ts]
        first[c] = round((min(starts) - shift_ts) / 1000, 1) if starts else None
    before = {c: n for c in spans if (n := overlapping(c, shift_ts - quiet_ms, shift_ts))}
    after = {c: n for c in spans if c not in trendy and (n := overlapping(c, shift_ts, end_ts + 1))}
    return {"first_named_s": first, "false_before": before, "false_after": after,
            "trendy_named_before": {c: before[c] for c in trendy if c in before}}


def check(report_path: Path, params: dict, quiet_min: float = 30.0) -> dict:
    report = json.loads(report_path.read_text())
    log = Path(report.get("events_log") or report["deployment"]["events_log"])
    start_ms = report["config"]["start_ms"]
    shift_ts = start_ms + int(report["shift"]["at_s"] * 1000)
    spans, end_ts = named_spans(log, RisingCategories(**params))
    out = judge(spans, set(report["shift"]["categories"]), shift_ts, end_ts, int(quiet_min * 60_000))
    return {"run": report_path.name, "seed": report["config"].get("seed"),
            "trendy": report["shift"]["categories"], **out}


def main(argv=None) -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reports", nargs="+", type=Path, help="run reports (JSON) that name their shop log")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="a RisingCategories parameter, e.g. threshold=8")
    p.add_argument("--quiet-min", type=float, default=30.0, help="minutes before the shift that count "
                   "for false alarms (default 30)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    params = {}
    known = inspect.signature(RisingCategories).parameters
    for pair in a.set:
        field, sep, value = pair.partition("=")
        if not sep or field not in known:
            p.error(f"{pair!r}: write FIELD=VALUE with FIELD one of {', '.join(known)}")
        try:
            params[field] = float(value)
        except ValueError:
            p.error(f"{pair!r}: {value!r} is not a number")
    rows = [check(r, params, a.quiet_min) for r in a.reports]
    if a.json:
        print(json.dumps({"params": params, "runs": rows}))
        return
    for r in rows:
        print(f"seed {r['seed']} ({r['run']}): trendy {r['trendy']} first named {r['first_named_s']} s after the "
              f"shift; named in the {a.quiet_min:g} min before: {r['false_before'] or 'none'}; other categories "
              f"named after: {r['false_after'] or 'none'}")


if __name__ == "__main__":
    main()
