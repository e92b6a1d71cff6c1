"""What the worker reports and keeps besides lists: counters, A/B figures, trending lists, and the
online models' checkpoints."""

from __future__ import annotations

import logging

from contracts.redis_keys import RecItem, RecList
from models.online import checkpoint as online_checkpoint
from streams.trending import trending
from streams.writer import now_ms

log = logging.getLogger(__name__)


class Reporting:
    """The ``flush-stats``, ``publish-trending`` and ``checkpoint-online`` timers' work (a mixin of Handlers)."""

    async def flush_stats(self) -> None:
        if self._pending:
            stats, self._pending = self._pending, {}
            await self.writer.write_lists([], 0, stats=stats)
        await self.flush_ab()

    def restore_online(self) -> dict | None:
        """Load the newest online-model checkpoint into the recommender; its sidecar, or ``None``."""
        load = getattr(self.recommender, "load_online_state_dict", None)
        if load is None or self.checkpoint_dir is None:
            return None
        found = online_checkpoint.load_latest(self.checkpoint_dir)
        if found is None:
            return None
        state, meta = found
        load(state)
        self.offsets = dict(meta.get("offsets", {}))
        log.info("online models restored from %s (offsets %s)", meta.get("file"), meta.get("offsets"))
        return meta

    def checkpoint_online(self) -> None:
        """Save the online models with the offsets they reflect (timer and shutdown)."""
        dump = getattr(self.recommender, "online_state_dict", None)
        if dump is None or self.checkpoint_dir is None or not self.offsets:
            return
        online_checkpoint.save(self.checkpoint_dir, dump(), self.offsets,
                               events=getattr(self.recommender, "_events", 0))

    async def flush_ab(self) -> None:
        """Per-variant closed-loop and prequential counters into ``ab:{experiment}:{variant}``."""
        drain = getattr(self.recommender, "drain_metrics", None)
        if drain is not None:
            self.ab.add(drain())
        rows = self.ab.drain()
        if not rows:
            return
        keys, exp = self.writer.keys, self.ab_experiment
        for variant, fields in rows.items():
            for kind in ("impressions", "clicks", "orders"):
                if fields.get(kind):
                    self.metrics.observe_ab(exp, variant, kind, fields[kind])

        def build(pipe, sha):
            for variant, fields in rows.items():
                for field, n in fields.items():
                    pipe.hincrby(keys.ab(exp, variant), field, n)
                    if field.startswith("preq_"):  # the worker-wide prequential figures
                        pipe.hincrby(self.writer.stats_key, field, n)
        await self.writer.execute(build)

    # --- trending ------------------------------------------------------------------------------
    async def publish_trending(self) -> int:
        if not self.popularity:
            return 0
        s = self.settings
        lists = trending(((i, p, ts) for i, (p, ts) in self.popularity.items()), self.categories,
                         k=s.trending_k, half_life_ms=s.trending_half_life_s * 1000)
        keys, write_ts, out = self.writer.keys, now_ms(), []
        event_ts = max(ts for _, ts in self.popularity.values())
        for cat, rows in lists.items():
            try:
                key = keys.trending(cat)
            except ValueError:
                continue  # a category name the key schema cannot hold; it still counts globally
            reason = f"popular in {cat}" if cat else "trending now"
            out.append((key, RecList(items=[RecItem(i, round(sc, 6), reason) for i, sc in rows],
                                     event_ts=event_ts, write_ts=write_ts, model_version="trending")))
        await self.writer.write_lists(out, self.trending_ttl_ms)
        return len(out)
