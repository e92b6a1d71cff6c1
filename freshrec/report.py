"""``freshrec report``: one HTML page summarising a run (metrics over time, A/B table, benchmark figures).

It samples the worker's live counters in Redis (``stats:worker``) for ``--watch`` seconds to draw
events/s and freshness over time, reads the per-variant A/B hashes, and embeds the benchmark tables
of ``docs/benchmarks.md``, so one file can be attached to a review or a ticket.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path

import typer

from freshrec.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _decode(h: dict) -> dict[str, str]:
    return {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in h.items()}


def sample_stats(client, key: str, seconds: float, interval: float = 1.0, clock=time.monotonic,
                 sleep=time.sleep) -> list[dict]:
    """Poll the worker's stats hash; each sample: t (s), events counter, freshness p50/p99 of the interval."""
    from serving.stats import percentile_from_histogram

    samples: list[dict] = []
    start = clock()
    prev: dict[str, str] | None = None
    while True:
        now = _decode(client.hgetall(key))
        t = clock() - start
        events = float(now.get("events", 0) or 0)
        row = {"t": round(t, 3), "events": events, "p50_ms": None, "p99_ms": None, "events_per_s": None}
        if prev is not None and samples:
            dt = t - samples[-1]["t"]
            row["events_per_s"] = (events - samples[-1]["events"]) / dt if dt > 0 else None
            delta = {k: int(float(v)) - int(float(prev.get(k, 0) or 0)) for k, v in now.items() if k.startswith("fh:")}
            row["p50_ms"] = percentile_from_histogram(delta, 0.5)
            row["p99_ms"] = percentile_from_histogram(delta, 0.99)
        samples.append(row)
        prev = now
        if t >= seconds:
            return samples
        sleep(interval)


def _plot_png(samples: list[dict]) -> bytes | None:
    rows = [s for s in samples if s["events_per_s"] is not None]
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    t = [s["t"] for s in rows]
    a.plot(t, [s["events_per_s"] for s in rows], color="tab:blue")
    a.set_ylabel("events/s")
    a.grid(alpha=0.3)
    for q, color in (("p50_ms", "tab:green"), ("p99_ms", "tab:red")):
        b.plot(t, [s[q] if s[q] is not None else float("nan") for s in rows], label=q[:3], color=color)
    b.set_ylabel("freshness (ms)")
    b.set_xlabel("seconds")
    b.legend()
    b.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def markdown_tables_to_html(markdown: str) -> str:
    """Headings and pipe tables of a Markdown file as HTML; other prose as paragraphs (escaped)."""
    out, table = [], []

    def flush():
        if not table:
            return
        rows = [r for r in table if not set(r.replace("|", "").strip()) <= set("-: ")]
        cells = [[html.escape(c.strip()) for c in r.strip().strip("|").split("|")] for r in rows]
        head, body = cells[0], cells[1:]
        out.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in head) + "</tr>"
                   + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body) + "</table>")
        table.clear()

    for line in markdown.splitlines():
        if line.lstrip().startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 6)
            out.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{html.escape(line.strip())}</p>")
    flush()
    return "\n".join(out)


def render(samples: list[dict], ab_rows: list[dict], benchmarks_md: str, stats: dict[str, str],
           closed_loop: str = "") -> str:
    png = _plot_png(samples)
    img = (f'<img alt="events/s and freshness over time" src="data:image/png;base64,'
           f'{base64.b64encode(png).decode()}">' if png else "<p>No worker activity was sampled.</p>")
    ab = ("<table><tr>" + "".join(f"<th>{html.escape(k)}</th>" for k in ab_rows[0]) + "</tr>"
          + "".join("<tr>" + "".join(f"<td>{html.escape(json.dumps(v) if isinstance(v, (list, dict)) else str(v))}"
                                     "</td>" for v in r.values()) + "</tr>" for r in ab_rows) + "</table>"
          if ab_rows else "<p>No A/B counters yet.</p>")
    counters = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                       for k, v in sorted(stats.items()) if not k.startswith("fh:"))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Freshrec run report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;font-size:13px}}th{{background:#f4f4f4}}</style></head><body>
<h1>Freshrec run report</h1><p>Generated {time.strftime('%Y-%m-%d %H:%M:%S %Z')}</p>
<h2>Stream over time</h2>{img}
<h2>A/B variants</h2>{ab}
<h2>Closed-loop experiment (latest)</h2>{closed_loop or '<p>Not included.</p>'}
<h2>Worker counters</h2><table>{counters or '<tr><td>none</td></tr>'}</table>
<h2>Benchmarks (docs/benchmarks.md)</h2>{markdown_tables_to_html(benchmarks_md)}
</body></html>"""


def report(
    out: Path = typer.Option(Path("out/report.html"), "--out", help="HTML file to write."),
    watch: float = typer.Option(10.0, "--watch", min=0, help="Seconds to sample the live worker counters."),
    experiment: str = typer.Option(None, "--experiment", help="A/B experiment to report (default: all)."),
) -> None:
    """Write an HTML summary of a run: events/s and freshness over time, the A/B table, benchmark figures."""
    import redis

    from freshrec.redis_url import sync_client
    from models.online.report import read_rows
    from contracts.redis_keys import Keys

    settings = Settings()
    keys = Keys(settings.redis_prefix)
    client = sync_client(getattr(settings, "reader_url", settings.redis_url), socket_timeout=5)
    try:
        samples = sample_stats(client, keys.stats("worker"), watch)
        stats = _decode(client.hgetall(keys.stats("worker")))
        ab_rows = read_rows(client, settings.redis_prefix, experiment)
    except redis.RedisError as exc:
        typer.secho(f"error: cannot read Redis ({exc}); run `freshrec stack up` or set FRESHREC_REDIS_URL",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    finally:
        client.close()
    bench = ROOT / "docs" / "benchmarks.md"
    from freshrec.experiment.plot import html_section

    page = render(samples, ab_rows, bench.read_text() if bench.exists() else "", stats,
                  html_section(settings.resolved_stack_dir / "experiments" / "latest.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page)
    typer.echo(f"wrote {out} ({len(samples)} samples, {len(ab_rows)} variants)")
