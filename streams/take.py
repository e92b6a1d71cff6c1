"""Take windows counted in events, not records: the agents' one hook into Faust's stream buffering.

A record of the events topic carries one event or a pack of hundreds (contracts/packs.py), so
Faust's ``Stream.take_events(n)``, which counts records, would make windows of anything from n to
n * 500 events: a window then outgrows Kafka's request size (the item deltas it sends) and holds
the loop for seconds. :func:`take_weighted` is ``take_events`` with a weight per record (here: the
events it holds, decoded once, as the record enters the buffer) and the same acking contract:
records are acknowledged only after the agent is done with the window that held them.

It uses these members of ``faust.Stream`` (faust-streaming 0.15.x, listed in docs/operations.md):
``add_processor``/``_processors``, ``_enable_passive``, ``_active_agens``, ``current_event``,
``enable_acks``, ``ack``, ``wait``, ``wait_for_stopped``, ``should_stop``, ``loop``, ``crash``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

from mode.utils.futures import notify

log = logging.getLogger(__name__)


async def take_weighted(stream, max_weight: int, within: float,
                        decode: Callable[[Any], tuple[Any, int]]) -> AsyncGenerator[Window, None]:
    """Yield a :class:`Window` of ``(event, decoded)`` once the decoded records weigh ``max_weight``
    or ``within`` seconds passed with something buffered. ``decode(event)`` returns ``(decoded, weight)``."""
    events: list[tuple[Any, Any]] = []
    weight = 0
    full = asyncio.Event()
    consumed = asyncio.Event()
    consuming: asyncio.Future | None = None
    enable_acks = stream.enable_acks

    async def add_to_buffer(value):
        nonlocal consuming, weight
        try:
            if consuming is not None:
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("take buffer found current_event is None")
            decoded, w = decode(event)
            events.append((event, decoded))
            weight += w
            if weight >= max_weight:
                full.set()
                consumed.clear()
                await stream.wait(consumed)  # nothing more joins a full window
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - as Faust's take: the stream crashes, loudly
            log.exception("error adding to the take window: %r", exc)
            await stream.crash(exc)
        return value

    # Acks are ours: a record is done when the agent is done with its window, not when it is buffered.
    deferred: set[asyncio.Task] = set()

    async def ack_when_settled(taken: list, settled) -> None:
        try:
            await asyncio.shield(settled)
        except Exception:  # noqa: BLE001 - never acked: Kafka re-delivers them after a restart
            log.exception("a take window's work failed; its records stay unacknowledged")
            return
        for event in taken:
            await stream.ack(event)

    stream.enable_acks = False
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(full, timeout=within)
            if not events:
                continue
            consuming = stream.loop.create_future()
            window = Window(events)
            try:
                yield window
            finally:
                taken = [event for event, _ in events]
                events.clear()
                weight = 0
                settled = window.settled
                if settled is None or settled.done():
                    for event in taken:
                        await stream.ack(event)
                else:
                    # The window's last writes are still on their way (session rows waiting for
                    # Kafka's acks): its records are acknowledged, and so committed, once they land,
                    # while the next window runs. Faust's rebalance waits for every ack (wait_empty).
                    task = asyncio.ensure_future(ack_when_settled(taken, settled))
                    deferred.add(task)
                    task.add_done_callback(deferred.discard)
                notify(consuming)
                full.clear()
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)


class Window(list):
    """A take window: ``[(event, decoded), ...]``; the agent may set ``settled`` to a future that is
    done when the window's work is, and the records are acknowledged only then."""

    settled: asyncio.Future | None = None


def track(stream, agen):
    """Register the generator with the stream like Faust's own take (closed on stream stop)."""
    stream._active_agens.add(agen)
    return agen
