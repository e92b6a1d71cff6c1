"""``freshrec bench curve``: freshness against event rate, from the backlog maximum down.

Runs ``freshrec bench pipeline`` once in backlog mode (the maximum rate) and then paced at each rate
up to that maximum, plus half of it (the issue #18 bound: p99 freshness at every rate up to half the
maximum), each in its own process on fresh topics. Prints one JSON object and writes a plot.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import typer

DEFAULT_RATES = "100,200,500,1000,2000,5000"


def _run(args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, "-m", "freshrec", "bench", "pipeline", "--json", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def settle_load(below: float, timeout: float) -> tuple[float, bool]:
    """Wait until the 1-minute load average is under ``below`` (a run left the machine busy, and the
    next rate's figures would carry it); returns the load at the start and whether it got there."""
    deadline = time.monotonic() + timeout
    while (load := os.getloadavg()[0]) >= below and time.monotonic() < deadline:
        time.sleep(2.0)  # the load average itself moves every 5 s: polling it, not synchronising
    return round(load, 2), load < below


def curve(
    rates: str = typer.Option(DEFAULT_RATES, help="Comma-separated paced rates, events/s; those above the "
                                                  "measured maximum are skipped, half the maximum is added."),
    seconds: float = typer.Option(20.0, min=2, help="Length of each paced run (events = rate x seconds)."),
    backlog_events: int = typer.Option(100_000, "--backlog-events", min=1000, help="Events of the backlog run."),
    split: bool = typer.Option(False, "--split", help="Users and items side as two worker processes."),
    plot: Path = typer.Option(Path("docs/freshness-vs-rate.png"), dir_okay=False, help="Where to write the plot."),
    json_out: Path = typer.Option(None, "--json-out", dir_okay=False, help="Also write the JSON here."),
    timeout: float = typer.Option(900.0, help="Give up on one run after this many seconds."),
    settle: float = typer.Option(1.5, "--settle-load", min=0,
                                 help="Before each run wait (up to --settle-timeout) for the 1-minute load "
                                      "average to fall below this; 0 = do not wait. Each row records its "
                                      "starting load."),
    settle_timeout: float = typer.Option(300.0, "--settle-timeout", min=0,
                                         help="Longest wait for the load, seconds; a run that starts "
                                              "above it is marked load_settled=false."),
) -> None:
    """Backlog maximum, then p50/p95/p99 freshness at each rate; one JSON object and a plot."""
    from rich.console import Console

    from freshrec.progress import Progress

    extra = ["--split"] if split else []
    wanted = sorted({float(r) for r in rates.split(",") if r.strip()})
    runs: list[dict] = []

    def timed(args: list[str]) -> dict:
        load, settled = settle_load(settle, settle_timeout) if settle > 0 else (round(os.getloadavg()[0], 2), True)
        row = _run(args, timeout)
        row.update(load_avg_1m_start=load, load_settled=settled)
        return row

    with Progress(console=Console(stderr=True)) as progress:
        task = progress.add_task("backlog maximum", total=None)
        try:
            top = timed(["-n", str(backlog_events), *extra])
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            typer.secho(f"error: the backlog run failed: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(2) from None
        maximum = float(top["events_per_s"])
        paced = sorted({r for r in wanted if r <= maximum} | {round(maximum / 2)})
        progress.update(task, total=1, completed=1)
        task = progress.add_task("paced runs", total=len(paced))
        for rate in paced:
            n = max(int(rate * seconds), 500)
            try:
                runs.append(timed(["--rate", f"{rate:g}", "-n", str(n), *extra]))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                runs.append({"rate_target": rate, "error": str(exc)[:300]})
            progress.update(task, advance=1)
    half = round(maximum / 2)
    ok = [r for r in runs if "error" not in r and r["rate_target"] <= half]
    result = {
        "max_events_per_s": maximum, "backlog": top, "runs": runs, "split": split,
        "p99_max_up_to_half_ms": max((r["freshness_p99_ms"] for r in ok if r["freshness_p99_ms"] is not None),
                                     default=None),
        "cpus": os.cpu_count(), "load_avg_1m_end": round(os.getloadavg()[0], 2),
    }
    _plot(result, plot)
    result["plot"] = str(plot)
    text = json.dumps(result)
    if json_out is not None:
        json_out.write_text(text + "\n")
    typer.echo(text)


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted((r for r in result["runs"] if "error" not in r), key=lambda r: r["rate_target"])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for q, style in ((50, "o-"), (95, "s--"), (99, "^-")):
        pts = [(r["rate_target"], r[f"freshness_p{q}_ms"]) for r in rows if r.get(f"freshness_p{q}_ms") is not None]
        if pts:
            ax.plot(*zip(*pts), style, label=f"p{q}")
    ax.axhline(100, color="grey", lw=0.8, ls=":", label="p99 goal 100 ms")
    ax.axvline(result["max_events_per_s"] / 2, color="tab:red", lw=0.8, ls=":", label="half the maximum")
    # Where every process on the machine (workers, producer, broker, Redis) would fill every core, from
    # the fastest paced run's CPU per event: a paced rate beyond it cannot keep up whatever its latency.
    bounds = [r["machine_events_per_s_bound"] for r in rows if r.get("machine_events_per_s_bound")]
    if bounds:
        ax.axvline(bounds[-1], color="tab:purple", lw=0.8, ls="--",
                   label=f"machine CPU bound {bounds[-1]:.0f}/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("events/s produced")
    ax.set_ylabel("event -> Redis list, ms")
    mode = "users + items processes" if result["split"] else "one worker process"
    ax.set_title(f"Freshness vs rate ({mode}); backlog max {result['max_events_per_s']:.0f}/s")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
