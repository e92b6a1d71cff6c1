"""The experiment's figure: CTR over stream time per variant, the trend shift marked."""

from __future__ import annotations

from pathlib import Path


def plot_ctr(report: dict, path: Path) -> bool:
    """Write the PNG; ``False`` (and no file) without matplotlib or without impressions."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    tl = report["timeline"]
    if not tl["t_s"]:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    hours = [t / 3600 for t in tl["t_s"]]
    for variant, ctr in tl["ctr"].items():
        pts = [(h, 100 * c) for h, c in zip(hours, ctr) if c is not None]
        if pts:
            overall = report["variants"][variant]["ctr"]["value"]
            label = f"{variant} ({100 * overall:.1f} %)" if overall is not None else variant
            ax.plot(*zip(*pts), marker="o", markersize=3, label=label)
    shift_h = report["shift"]["at_s"] / 3600
    ax.axvline(shift_h, color="grey", linestyle="--", linewidth=1)
    ax.annotate("trend shift", (shift_h, ax.get_ylim()[1]), xytext=(4, -12), textcoords="offset points",
                color="grey", fontsize=8)
    cfg = report["config"]
    ax.set(xlabel="stream time (simulated hours)", ylabel=f"CTR per {tl['bin_s'] / 60:g} min (%)",
           title=f"Closed-loop experiment: {cfg['users']} users, seed {cfg['seed']}, {cfg['clock']:g}x clock")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def html_section(path: Path) -> str:
    """``freshrec report``'s section for the newest experiment (``latest.json``), or a line saying there is none."""
    import base64
    import html
    import json

    from freshrec.experiment.analysis import METRICS

    try:
        report = json.loads(path.read_text())
    except (OSError, ValueError):
        return "<p>No closed-loop experiment yet (<code>freshrec experiment</code>).</p>"
    head = "".join(f"<th>{html.escape(m)} [95 %]</th>" for m in METRICS)
    rows = []
    for v, row in report["variants"].items():
        cells = "".join(
            "<td>-</td>" if row[m]["value"] is None else
            f"<td>{row[m]['value']:.4g} [{row[m]['lo']:.4g}, {row[m]['hi']:.4g}]</td>" for m in METRICS)
        follow = report["shift"]["follow_s"].get(v)
        rows.append(f"<tr><td>{html.escape(v)}</td><td>{row['users']}</td><td>{int(row['impressions'])}</td>{cells}"
                    f"<td>{'never' if follow is None else f'{follow:.0f} s'}</td></tr>")
    img = ""
    if report.get("plot") and Path(report["plot"]).exists():
        img = (f'<img alt="CTR over stream time" src="data:image/png;base64,'
               f'{base64.b64encode(Path(report["plot"]).read_bytes()).decode()}">')
    cfg = report["config"]
    return (f"<p>{html.escape(report['deployment']['id'])}: {cfg['hours']} simulated h at {cfg['clock']}x, "
            f"{cfg['users']} users, seed {cfg['seed']}, trend shift at {cfg['shift_at_h']} h.</p>"
            f"<table><tr><th>variant</th><th>users</th><th>impressions</th>{head}<th>follows the shift</th></tr>"
            + "".join(rows) + f"</table>{img}")
