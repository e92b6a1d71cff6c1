"""``freshrec ab report``: per-variant CTR, CVR, prequential HR@20 / MRR@20 with 95 % intervals.

Reads the ``ab:{experiment}:{variant}`` hashes the worker fills (``streams/handlers.py``). Rates get
Wilson intervals (impressions, clicks, orders and hits are counts); MRR gets a normal interval from
the sums of reciprocal ranks and of their squares. CVR is orders per impression.
"""

from __future__ import annotations

import json

import typer

from models.online.ab import mean_ci, wilson
from models.online.metrics import SCALE

app = typer.Typer(help="A/B experiments of the online models: per-variant CTR, CVR, HR and MRR.",
                  no_args_is_help=True)


def variant_row(experiment: str, variant: str, h: dict[str, str]) -> dict:
    """One variant's figures (rates as fractions, hr and mrr in percent) from its raw hash."""
    def num(name: str) -> int:
        try:
            return int(float(h.get(name, 0) or 0))
        except ValueError:
            return 0

    imp, clicks, orders = num("impressions"), num("clicks"), num("orders")
    n, hits, rr, rr2 = num("preq_n"), num("preq_hits"), num("preq_rr_e6") / SCALE, num("preq_rr2_e6") / SCALE
    ctr_ci, cvr_ci, hr_ci = wilson(clicks, imp), wilson(orders, imp), wilson(hits, n)
    mrr_ci = mean_ci(rr, rr2, n)
    return {"experiment": experiment, "variant": variant, "impressions": imp, "clicks": clicks, "orders": orders,
            "ctr": clicks / imp if imp else None, "ctr_ci": list(ctr_ci) if imp else None,
            "cvr": orders / imp if imp else None, "cvr_ci": list(cvr_ci) if imp else None,
            "preq_n": n, "hr": 100.0 * hits / n if n else None,
            "hr_ci": [100.0 * x for x in hr_ci] if n else None,
            "mrr": 100.0 * rr / n if n else None, "mrr_ci": [100.0 * x for x in mrr_ci] if n > 1 else None}


def read_rows(client, prefix: str, experiment: str | None) -> list[dict]:
    pattern = f"{prefix}ab:{experiment or '*'}:*"
    rows = []
    for key in sorted(client.scan_iter(match=pattern, count=1000)):
        name = key.decode() if isinstance(key, bytes) else key
        _, exp, variant = name[len(prefix):].split(":", 2)
        raw = client.hgetall(key)
        rows.append(variant_row(exp, variant, {(k.decode() if isinstance(k, bytes) else k):
                                              (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()}))
    return rows


def _pct(x: float | None, ci: list | None, scale: float = 100.0) -> str:
    if x is None:
        return "-"
    return f"{x * scale:.2f} [{ci[0] * scale:.2f}, {ci[1] * scale:.2f}]" if ci else f"{x * scale:.2f}"


@app.command("report")
def report(
    experiment: str = typer.Option("", "--experiment", "-e", envvar="FRESHREC_AB_EXPERIMENT",
                                   help="Experiment to report (the worker's salt); empty = every experiment found"),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list, one object per variant"),
) -> None:
    """Per-variant impressions, clicks, orders, CTR and CVR (Wilson 95 % intervals) and the worker's
    prequential HR@20 / MRR@20, read from the ab:{experiment}:{variant} hashes in Redis
    (FRESHREC_REDIS_URL, prefix FRESHREC_REDIS_PREFIX)."""
    import redis
    from rich.console import Console
    from rich.table import Table

    from freshrec.settings import Settings

    settings = Settings()
    try:
        from freshrec.redis_url import sync_client

        client = sync_client(settings.reader_url, socket_timeout=5, socket_connect_timeout=5)
        rows = read_rows(client, settings.redis_prefix, experiment or None)
    except (redis.RedisError, OSError) as exc:
        typer.secho(f"error: cannot read Redis ({type(exc).__name__}: {exc}); run `freshrec stack up` or set "
                    "FRESHREC_REDIS_URL", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(rows))
        return
    if not rows:
        typer.echo("no A/B counters yet: run the worker with FRESHREC_WORKER_RECOMMENDER="
                   "models.online.recommender:from_settings and the shop with --read-recs", err=True)
        return
    table = Table(title="A/B report (95 % intervals)")
    for col in ("experiment", "variant", "impressions", "clicks", "orders", "CTR %", "CVR %", "events",
                "HR@20 %", "MRR@20 %"):
        table.add_column(col, justify="left" if col in ("experiment", "variant") else "right")
    for r in rows:
        table.add_row(r["experiment"], r["variant"], str(r["impressions"]), str(r["clicks"]), str(r["orders"]),
                      _pct(r["ctr"], r["ctr_ci"]), _pct(r["cvr"], r["cvr_ci"]), str(r["preq_n"]),
                      _pct(r["hr"], r["hr_ci"], 1.0), _pct(r["mrr"], r["mrr_ci"], 1.0))
    Console().print(table)
