"""The worker's agents and timers: thin loops with explicit stable names; the work is in ``handlers``.

Each agent consumes ``take_events`` windows (up to ``worker_take_max`` events or ``worker_take_ms``),
so per-window costs (one ``recommend_many``, one Redis pipeline) are shared by hundreds of events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

import faust

from freshrec.settings import Settings
from streams.deep_swap import deep_swapper
from streams.expiry import expire
from streams.handlers import Handlers
from streams.seek import OffsetGuard, keep_queues_on_repeated_resume
from streams.take import take_weighted, track
from streams.tuning_swap import tuning_swapper
from streams.topics import Topics
from streams.watchdog import consumer_state, consuming, exit_for_supervisor
from streams.writer import now_ms

log = logging.getLogger(__name__)

STATS_FLUSH_S = 1.0
OFFSET_GUARD_S = 2.0
NEIGHBORS_APPLY_S = 0.05
AGENT_CRASH_EXIT_CODE = 4


def exit_on_crash(agent: str, exc: Exception) -> None:
    """An agent that raised: Faust would restart the actor on a fresh iterator while the crashed
    window's records stay unacknowledged, so the commit stops there and the worker looks alive while
    it does nothing. Exit instead; the supervisor restarts it from the committed offsets, which the
    crash tests show is exact."""
    log.critical("agent %s crashed: exiting (code %d) for a restart from the committed offsets",
                 agent, AGENT_CRASH_EXIT_CODE, exc_info=exc)
    exit_for_supervisor(AGENT_CRASH_EXIT_CODE)


@contextlib.contextmanager
def crash_exits(agent: str, on_crash):
    # Not Faust's on_error: app.agent passes its own, and the actor is restarted after it anyway.
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - every crash must end the process, whatever it was
        on_crash(agent, exc)
        raise


def register_agents(app: faust.App, settings: Settings, topics: Topics, h: Handlers, *,
                    on_crash=exit_on_crash) -> dict:
    """The agents and timers of the worker's role (``FRESHREC_WORKER_ROLE``): the users side turns
    events into sessions, item deltas and lists; the items side turns item deltas into neighbour
    lists and keeps the catalog. ``all`` runs both in one process."""
    size, within = settings.worker_take_max, settings.worker_take_ms / 1000.0
    users, items = settings.runs("users"), settings.runs("items")
    registered: dict = dict.fromkeys(("events", "item-updates", "catalog", "publish-neighbors",
                                      "publish-trending", "expire-sessions"))

    if users:
        # Windows count events, not records: a record may be a pack of hundreds (streams/take.py).
        @app.agent(topics.events, name="events")
        async def events(stream):
            with crash_exits("events", on_crash):
                async for window in track(stream, take_weighted(stream, size, within, h.route)):
                    window.settled = await h.on_events(window)
        registered["events"] = events

        # Neighbour lists published by the items side reach the model in slices between windows.
        @app.timer(NEIGHBORS_APPLY_S, name="apply-neighbors")
        async def apply_neighbors():
            await h.apply_pending_neighbors()

        # Every worker holds all items' popularity, so the leader alone writes the (identical) lists.
        @app.timer(settings.trending_interval_s, on_leader=True, name="publish-trending")
        async def publish_trending():
            await h.publish_trending()
        registered["publish-trending"] = publish_trending

    if items:
        # Item-side windows are larger: one table row (changelog record) per touched item per window,
        # and a popular item is touched by almost every event window.
        item_size, item_within = settings.worker_item_take_max, settings.worker_item_take_ms / 1000.0

        @app.agent(topics.item_updates, name="item-updates")
        async def item_updates(stream):
            with crash_exits("item-updates", on_crash):
                async for window in stream.take_events(item_size, within=item_within):
                    await h.on_item_updates(window)

        @app.agent(topics.catalog, name="catalog")
        async def catalog(stream):
            with crash_exits("catalog", on_crash):
                async for window in stream.take_events(size, within=within):
                    await h.on_catalog(window)

        @app.timer(settings.neighbors_publish_s, name="publish-neighbors")
        async def publish_neighbors():
            await h.publish_neighbors()

        @app.on_before_shutdown.connect
        async def snapshot_on_shutdown(app, **kwargs):
            # What a starting users worker reads first; the packs cover a crash, a stop need not rely on them.
            await h.write_snapshot(now_ms())
        registered.update({"item-updates": item_updates, "catalog": catalog, "publish-neighbors": publish_neighbors})

    @app.timer(STATS_FLUSH_S, name="flush-stats")
    async def flush_stats():
        await h.flush_stats()

    if users and settings.online_checkpoint_s > 0:
        @app.timer(settings.online_checkpoint_s, name="checkpoint-online")
        async def checkpoint_online():
            h.checkpoint_online()

        @app.on_before_shutdown.connect
        async def checkpoint_on_shutdown(app, **kwargs):
            h.checkpoint_online()

    # Every worker sweeps the sessions it holds; only rows of partitions it owns now get tombstones.
    sessions = h.tables.sessions
    if sessions is not None and sessions.idle is not None:
        @app.timer(settings.session_expiry_interval_s, name="expire-sessions")
        async def expire_sessions():
            if app.rebalancing:
                return  # the assignment is in flux: a row could look like another worker's
            try:
                owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.topic_events}
                await expire(sessions, sessions.idle, lambda key: sessions.partition_for_key(key) in owned)
            except Exception:  # noqa: BLE001 - a failed sweep is retried next tick; it must not stop the worker
                log.exception("session expiry sweep failed")
        registered["expire-sessions"] = expire_sessions

    if settings.worker_malloc_trim_s > 0:
        from streams.allocator import trim

        @app.timer(settings.worker_malloc_trim_s, name="malloc-trim")
        async def malloc_trim():
            # In a thread: the call walks the whole heap, and the loop must keep serving meanwhile.
            await asyncio.get_running_loop().run_in_executor(None, trim)

    if settings.worker_tracemalloc_s > 0:
        from streams.memdebug import MemoryTracer

        tracer = MemoryTracer()

        @app.timer(settings.worker_tracemalloc_s, name="trace-memory")
        async def trace_memory():
            tracer.log_report(h.tables)

    # Faust must neither commit past nor lose source records it dropped in a rebalance: streams/seek.py.
    sources = (((settings.topic_events,) if users else ())
               + ((settings.topic_item_updates, settings.topic_catalog) if items else ()))
    guard = OffsetGuard(app.consumer, sources, compacted={settings.topic_catalog} & set(sources))
    guard.install()
    keep_queues_on_repeated_resume(app.flow_control)

    @app.timer(OFFSET_GUARD_S, name="offset-guard")
    async def offset_guard():
        if not consuming(app):
            return
        try:
            await guard.tick(time.monotonic())
        except Exception:  # noqa: BLE001 - a failed check is retried next tick; it must not stop the worker
            log.exception("offset guard tick failed")

    # Every worker watches its own source partitions; see streams/watchdog.py (issue #10's stalls).
    if settings.worker_stall_s > 0:
        from streams.watchdog import StallWatchdog, timer_interval

        watchdog = StallWatchdog(app, sources, settings.worker_stall_s)

        @app.timer(timer_interval(settings.worker_stall_s), name="stall-watchdog")
        async def stall_watchdog():
            try:
                await watchdog.tick()
            except Exception:  # noqa: BLE001 - the watchdog must never be what stops the worker by accident
                log.exception("stall watchdog tick failed")

    @app.task
    async def report_consumer_on_sigusr2():
        # mode answers SIGUSR1 with every task's stack; where each partition stands is the other half
        # of diagnosing a worker that holds lag and consumes nothing.
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGUSR2, lambda: log.warning("consumer state (SIGUSR2):\n  %s", consumer_state(app, sources)))

    # Not on the leader only: every worker scores with its own copy of the deep model.
    swapper = deep_swapper(settings, h) if users else None
    if swapper is not None:
        @app.timer(settings.deep_poll_s, name="deep-swap")
        async def deep_swap():
            await swapper.poll()

    # Every worker applies the published tuning configuration to the sides it runs (streams/tuning_swap.py).
    tuning = tuning_swapper(settings, h)
    if tuning is not None:
        reported: dict[str, str] = {}

        @app.timer(settings.tuning_poll_s, name="tuning-swap")
        async def tuning_swap():
            tuning.poll()
            fields = tuning.report()
            if fields and fields != reported:
                key = h.writer.stats_key
                await h.writer.execute(lambda pipe, sha: [pipe.hset(key, mapping=fields)])
                reported.clear()
                reported.update(fields)
        registered["tuning-swap"] = tuning_swap

    registered["flush-stats"] = flush_stats
    return registered
