"""The evaluated path is the worker's path (issue #21, item 6): one log replayed through the worker's
agents (sessions, item deltas, the items side, published lists) and through
:class:`streams.worker_path.WorkerPath` driven as ``freshrec evaluate --mode prequential`` drives a
model gives the same list after every event."""

from __future__ import annotations

import random

from freshrec.settings import Settings
from models.base import Interaction, Session
from models.recommender import StreamRecommender
from streams.covis import decode_batch, decode_stats
from streams.worker_path import WorkerPath

from .conftest import Harness, raw, wait_for


def _log(n: int = 45, seed: int = 3) -> list[tuple[str, str]]:
    """Interleaved sessions over a small catalogue, so neighbours matter from the first few events."""
    rng = random.Random(seed)
    return [(f"u{rng.randrange(6)}", f"i{min(int(rng.expovariate(0.35)), 11)}") for _ in range(n)]


def _row_offset(h: Harness, item: str) -> int:
    raw = h.tables.item_stats.get(item)
    return decode_stats(raw).offset if raw is not None else -1


async def test_the_worker_and_the_evaluated_worker_path_give_the_same_lists(unique):
    h = Harness(unique, StreamRecommender(), worker_item_take_ms=5.0)  # item windows as short as user ones
    k = h.pipeline.settings.rec_k
    evaluated = WorkerPath.from_settings(StreamRecommender(), Settings())
    evaluated.publish_every_ms = 0  # the harness publishes after every event too
    sessions: dict[str, Session] = {}
    compared = 0
    # One context per agent for the whole log: item-updates offsets must keep growing (the item side
    # skips a re-delivered offset).
    async with h.agents["events"].test_context() as events, h.agents["item-updates"].test_context() as updates:
        for user, item in _log():
            ev = h.event(user, item)
            # the worker: one window, its item deltas through the items side, then a publish
            sent_before = len(h.out.item_updates.sent)
            await events.put(raw(ev), key=user.encode())
            await wait_for(lambda: (rec := h.writer.lists.get(h.writer.keys.user_recs(user))) is not None
                           and rec.list_id == ev.event_id, what=f"the list after {ev.event_id}")
            applied: list[tuple[str, int]] = []  # (item, the item-updates offset its row must reach)
            for m in h.out.item_updates.sent[sent_before:]:
                put = await updates.put(m["value"], key=m["key"])
                batch = decode_batch(m["value"])
                applied += [(i, put.message.offset) for i in (*batch.items, *batch.sourced)]
            # Every delta applied, not just the first window's: the items agent's take window may split
            # one event's records, and a publish in between would publish partial counts.
            await wait_for(lambda: all(_row_offset(h, i) >= off for i, off in applied), what="the item side")
            await h.handlers.publish_neighbors()
            worker = h.writer.user_items(user)
            # the evaluated path: learn the click, then score the session, as the prequential replay does
            session = sessions.setdefault(user, Session(user_id=user))
            interaction = Interaction(item=item, ts=ev.ts)
            evaluated.learn_one(session, interaction)
            session.interactions.append(interaction)
            mine = [c.item for c in evaluated.recommend_many([session], k)[0][:k]]
            assert worker == mine, f"after {ev.event_id} ({user} viewed {item})"
            compared += bool(worker)
    assert compared > 30  # most events had a non-empty list to compare


def test_lists_reach_the_evaluated_model_only_when_published():
    model = StreamRecommender()
    path = WorkerPath.from_settings(model, Settings(neighbors_publish_s=60))
    s = Session(user_id="a")
    for n, item in enumerate(["x", "y", "z"]):
        path.learn_one(s, Interaction(item=item, ts=1_000 * n))
        s.interactions.append(Interaction(item=item, ts=1_000 * n))
    assert model.covisit.neighbors("x") == []  # counted on the path's item side, not yet published
    path.learn_one(Session(user_id="b"), Interaction(item="x", ts=61_000))  # a minute later: a publish
    assert [i for i, _ in model.covisit.neighbors("x")][:2] == ["y", "z"]


def test_a_registered_model_is_driven_sharded_through_its_selection_wrapper():
    """`freshrec evaluate` builds models through the registry, which wraps them for selection; the
    worker path must drive the model inside (its co-visitation sources), not the wrapper's learn_one."""
    from models.evaluation import registry

    path = WorkerPath.from_settings(registry.create("stream", select=True))
    assert path.adapter.sharded
    path.fit([["a", "b", "c"], ["a", "b"], ["b", "c"]] * 20)  # a selection builds a new model instance
    assert path.adapter.sharded and path.recommender is path.outer.model


def test_the_worker_path_replays_the_trainers_re_tunes_on_the_past_only():
    """`--path worker` re-runs the selection on the trainer's schedule in event time, on the sessions
    learned so far, and applies a published configuration to the model and the item side."""
    from tests.unit.models.selection.conftest import walk_sessions

    from models.selection import Budget

    # The trainer's schedule: a round at the first event, then every 600 events (the interval is
    # never reached on this clock).
    settings = Settings(trainer_min_events=600, trainer_interval_min=1e6, covis_half_life_s=3600.0)
    model = StreamRecommender(page_rules=False, weights={"covisit": 1.0, "repeat": 0.0, "trending": 0.01})
    path = WorkerPath.from_settings(model, settings)
    path.retunes.retuner.budget = Budget(candidates=6, min_cases=60, eta=2)
    learned: list[tuple[str, str]] = []
    seen_at_round: list[int] = []
    run = path.retunes.run

    def watched(ts, half_life_s):
        # Everything the re-tune reads was learned before (it is the log seen so far, nothing later).
        logged = sum(map(len, path.retunes.log.values()))
        assert logged == len(learned)
        seen_at_round.append(logged)
        return run(ts, half_life_s)

    path.retunes.run = watched
    ts = 1_796_765_400_000
    for n, items in enumerate(walk_sessions(300, repeat_p=0.6, seed=4)):
        session = Session(user_id=f"s{n}")
        for item in items:
            ts += 1000
            interaction = Interaction(item=item, ts=ts)
            learned.append((session.user_id, item))
            path.learn_one(session, interaction)
            session.interactions.append(interaction)
        ts += 60_000
    rounds = path.retunes.rounds
    assert seen_at_round[0] == 1 and seen_at_round[1:] == [601 + 600 * i for i in range(len(seen_at_round) - 1)]
    assert len(rounds) == len(seen_at_round) - 1   # the first round waits for two sessions, as the trainer's
    published = [r for r in rounds if r["published"]]
    assert published, rounds   # running settings that ignore repeats on a repeat-heavy log lose
    config = path.retunes.running
    assert config.version == published[-1]["version"]
    assert model.weights == config.scoring["weights"] and model.weights["repeat"] > 0
    assert (model.covisit.window, path.policy.top_k) == (config.covis["window"], config.covis["top_k"])
    assert path.policy.half_life_ms == 3_600_000.0   # carried from the worker's settings, not searched
    assert path.selection.to_json()["retunes"] == rounds   # what --json reports
    assert config.data["first_ts"] == 1_796_765_400_000 + 1000 and config.data["last_ts"] <= ts

    untuned = WorkerPath.from_settings(StreamRecommender(), Settings(trainer_tune=False))
    untuned.learn_one(Session(user_id="a"), Interaction(item="x", ts=ts))
    assert untuned.retunes.retuner is None and untuned.selection is None
