"""Per-event cost of the online models alone (no Kafka, no Redis): ``python -m models.online.bench --json``.

Replays a synthetic shop stream (users with favourite categories, a catalog with brands and prices)
the way the worker does: per take window, each event is learned (``learn_one`` given the session
before it), then every touched user is scored with one ``recommend_many``. Prints learn and score
microseconds per event for the fixed-fusion :class:`StreamRecommender` and the online recommender.
"""

from __future__ import annotations

import json
import random
import time

import typer

from contracts.events import CatalogItem
from models.base import Interaction, Session
from models.online.recommender import OnlineRecommender
from models.recommender import StreamRecommender


def synthetic_stream(users: int, items_per_cat: int, cats: int, events: int, seed: int = 7):
    rng = random.Random(seed)
    catalog = [CatalogItem(item_id=f"c{c}i{j}", title=f"t{c} {j}", category=["root", f"cat{c}"],
                           price=5.0 * (1 + c % 9) * (1 + j % 5), brand=f"b{(c + j) % 20}")
               for c in range(cats) for j in range(items_per_cat)]
    fav = [rng.randrange(cats) for _ in range(users)]
    ts = 1_700_000_000_000
    out = []
    for _ in range(events):
        u = rng.randrange(users)
        c = fav[u] if rng.random() < 0.7 else rng.randrange(cats)
        ts += 50
        out.append((f"u{u}", Interaction(f"c{c}i{min(int(rng.expovariate(0.05)), items_per_cat - 1)}", "view", ts)))
    return catalog, out


def run(model, catalog, stream, window: int, keep: int = 20) -> dict:
    for it in catalog:
        model.learn_item(it)
    sessions: dict[str, list[Interaction]] = {}
    learn_s = score_s = 0.0
    measured = 0
    warm = len(stream) // 4
    for lo in range(0, len(stream), window):
        chunk = stream[lo: lo + window]
        t0 = time.perf_counter()
        touched = {}
        for u, inter in chunk:
            model.learn_one(Session(u, sessions.get(u, [])), inter)
            sessions[u] = (sessions.get(u, []) + [inter])[-keep:]
            touched[u] = True
        t1 = time.perf_counter()
        model.recommend_many([Session(u, list(sessions[u])) for u in touched], 20)
        t2 = time.perf_counter()
        if lo >= warm:
            learn_s += t1 - t0
            score_s += t2 - t1
            measured += len(chunk)
    return {"learn_us_per_event": round(1e6 * learn_s / measured, 1),
            "score_us_per_event": round(1e6 * score_s / measured, 1),
            "total_us_per_event": round(1e6 * (learn_s + score_s) / measured, 1),
            "events_per_s": round(measured / (learn_s + score_s)), "events": measured}


def main(events: int = typer.Option(40_000, "--events", "-n", min=1000, help="Events to replay"),
         users: int = typer.Option(5_000, "--users", min=1, help="Distinct users"),
         window: int = typer.Option(500, "--window", min=1, help="Events per take window (FRESHREC_WORKER_TAKE_MAX)"),
         mf_sample: float = typer.Option(0.25, "--mf-sample", min=0, max=1,
                                         help="Share of events the BiasedMF learns from "
                                              "(the worker's is FRESHREC_ONLINE_MF_SAMPLE)"),
         as_json: bool = typer.Option(False, "--json", help="Print JSON only")) -> None:
    """Learn + score microseconds per event of the fixed fusion and the online recommender."""
    catalog, stream = synthetic_stream(users, 100, 40, events)
    out = {"events": events, "users": users, "window": window,
           "fusion": run(StreamRecommender(), catalog, stream, window),
           "online": run(OnlineRecommender(mf_sample=mf_sample, bootstrap_every=0), catalog, stream, window)}
    typer.echo(json.dumps(out) if as_json else json.dumps(out, indent=2))


if __name__ == "__main__":
    typer.run(main)
