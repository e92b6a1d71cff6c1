"""A deterministic replay (users, items, event time) and the comparison of two workers' table states."""

from __future__ import annotations

import random
import threading
import time

from contracts.events import Event
from contracts.redis_keys import decode_rec_list
from streams.covis import decode_stats
from streams.session import decode_state

T0 = 1_763_000_000_000


def replay_events(users: int = 30, per_user: int = 40, items: int = 60, seed: int = 7) -> list[Event]:
    """Interleaved sessions; each user's events in order, 1 s apart in event time."""
    rng = random.Random(seed)
    out = []
    for n in range(per_user):
        for u in range(users):
            type_ = rng.choices(["view", "click", "cart", "order"], [80, 10, 7, 3])[0]
            out.append(Event(event_id=f"e{u}-{n}", ts=T0 + (n * users + u) * 1000, user_id=f"u{u}",
                             item_id=f"i{rng.randrange(items)}", type=type_, session_id=f"s{u}"))
    return out


def sessions_state(dep) -> dict:
    return {u: decode_state(v) for u, v in dep.changelog("sessions").items()}


def items_state(dep) -> dict:
    return {i: decode_stats(v) for i, v in dep.changelog("item-stats").items()}


def all_reflected(dep, events: list[Event]) -> bool:
    """Every event's id is in its user's recovered session state (the changelog)."""
    state = sessions_state(dep)
    return all(u in state and ev.event_id in state[u].event_ids for u, ev in
               ((e.user_id, e) for e in events))


def item_weights(state: dict, half_life_ms: float) -> dict[str, tuple[float, float]]:
    """(popularity, total similar weight) per item, weights decayed to the item's own latest ts."""
    out = {}
    for item, st in state.items():
        f = 2.0 ** (-(st.ts - st.base) / half_life_ms)
        out[item] = (st.popularity, f * sum(st.similar.values()))
    return out


def item_side_difference(got: dict, want: dict, half_life_ms: float) -> dict[str, float]:
    """Relative differences of the item side: the worst item, and all items' weights together."""
    g, w = item_weights(got, half_life_ms), item_weights(want, half_life_ms)
    assert set(g) == set(w)
    worst_pop = max(abs(g[i][0] - w[i][0]) / w[i][0] for i in w)
    worst_sim = max(abs(g[i][1] - w[i][1]) / w[i][1] for i in w if w[i][1])
    total_g, total_w = sum(v[1] for v in g.values()), sum(v[1] for v in w.values())
    return {"worst_popularity": worst_pop, "worst_similar": worst_sim,
            "total_similar": abs(total_g - total_w) / total_w}


class RecWatcher:
    """Polls every ``rec:user:*`` key and records any list whose event ts went backwards."""

    def __init__(self, client, prefix: str):
        self.client = client
        self.pattern = f"{prefix}rec:user:*"
        self.last: dict[bytes, int] = {}
        self.regressions: list[tuple[bytes, int, int]] = []
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                keys = list(self.client.scan_iter(match=self.pattern, count=1000))
                pipe = self.client.pipeline(transaction=False)
                for k in keys:
                    pipe.hget(k, "ts")
                for k, ts in zip(keys, pipe.execute()):
                    if ts is None:
                        continue
                    ts = int(ts)
                    before = self.last.get(k, 0)
                    if ts < before:
                        self.regressions.append((k, before, ts))
                    self.last[k] = max(before, ts)
                self.polls += 1
            except Exception:  # noqa: BLE001 - Redis may be down on purpose in outage tests
                pass
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def user_lists(dep) -> dict[str, object]:
    prefix = dep.settings.redis_prefix + "rec:user:"
    out = {}
    for key in dep.redis.scan_iter(match=prefix + "*", count=1000):
        raw = dep.redis.hget(key, "body")
        if raw is not None:
            out[key.decode().removeprefix(prefix)] = decode_rec_list(raw)
    return out


def last_ts_by_user(events: list[Event]) -> dict[str, int]:
    out: dict[str, int] = {}
    for ev in events:
        out[ev.user_id] = max(out.get(ev.user_id, 0), ev.ts)
    return out
