"""Several runs of ``freshrec experiment`` (seeds) as one table: per variant each run's value with its
bootstrap interval, the mean over runs, and ratios between arms per run.

One run's interval is over users of that run; the runs differ in seed (tastes, catalog, draws), so
the spread between runs is the other half of the uncertainty and is shown beside it, not merged.
``python -m freshrec.experiment.seeds run1.json run2.json ...`` prints markdown.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from freshrec.experiment.analysis import METRICS

PCT = ("ctr", "add_to_cart_rate")


def fmt(metric: str, r: dict | None) -> str:
    if r is None or r.get("value") is None:
        return "-"
    if metric in PCT:
        return f"{100 * r['value']:.2f} % [{100 * r['lo']:.2f}, {100 * r['hi']:.2f}]"
    digits = 3 if metric == "orders_per_session" else 1
    return f"{r['value']:.{digits}f} [{r['lo']:.{digits}f}, {r['hi']:.{digits}f}]"


def combine(reports: Sequence[dict]) -> dict:
    """Per variant and metric: the runs' values and intervals, their mean; per run the CTR ratios."""
    variants = list(reports[0]["variants"])
    out: dict = {"seeds": [r["config"]["seed"] for r in reports], "variants": {}, "ratios": []}
    for v in variants:
        row = {}
        for m in METRICS:
            runs = [r["variants"][v][m] for r in reports if v in r["variants"]]
            vals = [x["value"] for x in runs if x["value"] is not None]
            row[m] = {"runs": runs, "mean": float(np.mean(vals)) if vals else None,
                      "min": min(vals) if vals else None, "max": max(vals) if vals else None}
        row["follow_s"] = [r["shift"]["follow_s"].get(v) for r in reports]
        row["list_age_p50_s"] = [r.get("list_age", {}).get(v, {}).get("p50_s") for r in reports]
        out["variants"][v] = row
    for r in reports:
        ctr = {v: r["variants"][v]["ctr"]["value"] for v in variants}
        out["ratios"].append({f"{a}/{b}": ctr[a] / ctr[b] for a in variants for b in variants
                              if a != b and ctr[a] and ctr[b]})
    return out


def markdown(reports: Sequence[dict]) -> str:
    c = combine(reports)
    seeds = c["seeds"]
    lines = []
    for m in METRICS:
        lines.append(f"\n{m} per seed ({', '.join(map(str, seeds))}) [95 % bootstrap over users], mean\n")
        lines.append("| variant | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |")
        lines.append("|---" * (len(seeds) + 2) + "|")
        for v, row in c["variants"].items():
            r = row[m]
            digits = 3 if m == "orders_per_session" else 1
            mean = "-" if r["mean"] is None else (f"{100 * r['mean']:.2f} %" if m in PCT else f"{r['mean']:.{digits}f}")
            lines.append(f"| {v} | " + " | ".join(fmt(m, x) for x in r["runs"]) + f" | {mean} |")
    lines.append("\n| variant | follows the shift (s) | list age p50 (s) |")
    lines.append("|---|---|---|")
    for v, row in c["variants"].items():
        f = ", ".join("never" if x is None else f"{x:.0f}" for x in row["follow_s"])
        a = ", ".join("-" if x is None else f"{x:.0f}" for x in row["list_age_p50_s"])
        lines.append(f"| {v} | {f} | {a} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown([json.loads(Path(p).read_text()) for p in sys.argv[1:]]))
