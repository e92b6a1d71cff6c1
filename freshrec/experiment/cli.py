"""``freshrec experiment``: popular / batch / fusion / online (/ hybrid) side by side, judged by the shop."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import typer

from freshrec.experiment.analysis import METRICS
from models.online.ab import KINDS


def experiment(
    variants: str = typer.Option(",".join(("popular", "batch", "fusion", "online")), help="Comma-separated A/B arms, "
                                 "equal shares; a name's start is its kind: " + ", ".join(KINDS) + " (hybrid needs "
                                 "a published deep version)."),
    hours: float = typer.Option(1.5, min=0.01, max=48, help="Simulated hours of shop traffic."),
    clock: float = typer.Option(12.0, min=0.1, max=600, help="Simulated seconds per wall second (the run takes "
                                "hours * 3600 / clock seconds, plus the worker's start)."),
    users: int = typer.Option(1000, min=20, max=1_000_000, help="Simulated users (the event rate is users / 50 "
                              "per simulated second unless --rate)."),
    items: int = typer.Option(1000, min=30, help="Catalog size at start."),
    rate: float | None = typer.Option(None, min=0.01, help="Events per simulated second (default users / 50)."),
    seed: int = typer.Option(7, min=0, help="Seed of the shop (catalog, users, their draws) and of the bootstrap."),
    shift_at: float | None = typer.Option(None, "--shift-at", min=0, help="Simulated hours after start at which two "
                                          "categories turn trendy (default: half of --hours)."),
    batch_minutes: float = typer.Option(60.0, min=0.1, help="Stream minutes between a `batch` user's list refreshes "
                                        "(a worker run by hand reads FRESHREC_AB_BATCH_PERIOD_S, in seconds)."),
    start_ms: int | None = typer.Option(None, "--start-ms", help="Simulated start, epoch ms (default: the latest "
                                        "11:06:40 UTC whose --hours have passed, so every run has the same hours "
                                        "of the day's traffic; with --seed it fixes the shop's draws)."),
    out: Path | None = typer.Option(None, help="Directory of the JSON and the plot (default <stack dir>/experiments; "
                                    "latest.json is the newest run, which `freshrec report` shows)."),
    keep: bool = typer.Option(False, "--keep", help="Leave the run's topics and Redis keys in place."),
    set_: list[str] = typer.Option([], "--set", metavar="FIELD=VALUE",
                                   help="A recommender setting for the run's worker (repeatable), e.g. "
                                        "--set online_trend_slot=2; the caller's FRESHREC_* do not reach it."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Closed-loop A/B: a worker serves each variant to its share of users, the simulated shop (the judge,
    docs/shop-model.md) reads and clicks the lists; per variant CTR, add-to-cart rate, orders and revenue
    per session with 95 % bootstrap intervals over users, and how soon each follows the trend shift."""
    from freshrec.experiment.run import Config, ExperimentError, parse_settings, run
    from freshrec.settings import Settings

    names = [v.strip() for v in variants.split(",") if v.strip()]
    if len(set(names)) != len(names) or not names:
        raise typer.BadParameter("distinct variant names, e.g. popular,batch,fusion,online", param_hint="--variants")
    shift = hours / 2 if shift_at is None else shift_at
    if not 0 <= shift < hours:
        raise typer.BadParameter("must be within --hours", param_hint="--shift-at")
    try:
        overrides = parse_settings(set_)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--set") from None
    cfg = Config(variants=names, hours=hours, clock=clock, users=users, items=items, rate=rate, seed=seed,
                 shift_at_h=shift, batch_minutes=batch_minutes, start_ms=start_ms,
                 bin_s=max(60.0, hours * 3600 / 18), settings=overrides)
    out_dir = out or Settings().resolved_stack_dir / "experiments"
    echo = (lambda line: typer.echo(line, err=True)) if as_json else typer.echo  # noqa: E731
    # `kill` stops the run like Ctrl-C, and so does SIGINT in the background (where the shell ignores
    # it): the children are stopped and the deployment removed, as on an error.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        report = run(cfg, out_dir, keep=keep, echo=echo)
    except KeyboardInterrupt:
        typer.secho("interrupted: the worker and the shop were stopped", err=True, fg=typer.colors.YELLOW)
        raise typer.Exit(130)
    except ExperimentError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(render(report))


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def render(report: dict) -> str:
    """The report as a terminal table."""
    lines = [f"{'variant':<10} {'users':>6} {'impr':>7} " + " ".join(f"{m:>24}" for m in METRICS)]
    for v, row in report["variants"].items():
        cells = []
        for m in METRICS:
            r = row[m]
            pct = m in ("ctr", "add_to_cart_rate")
            f = (lambda x: f"{100 * x:.2f}%") if pct else (lambda x: f"{x:.3f}")  # noqa: E731
            cells.append("-" if r["value"] is None else f"{f(r['value'])} [{f(r['lo'])},{f(r['hi'])}]")
        lines.append(f"{v:<10} {row['users']:>6} {int(row['impressions']):>7} " + " ".join(f"{c:>24}" for c in cells))
    ages = report.get("list_age", {})
    lines.append("age of the shown list at the impression (stream s, p50 / p90): " + ", ".join(
        f"{v} {a['p50_s']:.0f} / {a['p90_s']:.0f}" for v, a in ages.items() if a["n"]))
    lag = report.get("lag") or {}
    if lag.get("samples"):
        lines.append(f"worker behind the shop (records p50 / p90 / max): {lag['records_p50']:.0f} / "
                     f"{lag['records_p90']:.0f} / {lag['records_max']}; newest event, stream s max "
                     f"{lag['stream_s_max'] if lag['stream_s_max'] is not None else '-'}")
    sh = report["shift"]
    follow = ", ".join(f"{v} {'never' if s is None else f'{s:.0f} s'}" for v, s in sh["follow_s"].items())
    lines.append(f"trend shift at {sh['at_s'] / 3600:.2f} h ({', '.join(sh['categories'])}: "
                 f"{100 * (sh['target'] or 0):.1f} % of later views; views reach it after {sh['traffic_s']} s); "
                 f"lists reach it after: {follow}")
    lines.append(f"wrote {report['json']}" + (f" and {report['plot']}" if report.get("plot") else ""))
    return "\n".join(lines)
