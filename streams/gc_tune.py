"""Garbage-collector settings for the worker, applied once its tables are recovered (first window).

Every event allocates dozens of short-lived containers (Faust events, messages, futures; sessions
and candidates), so the default gen-0 threshold (700) ran a collection every ~10 events, and each
older-generation pass walked the ~10^6 objects that imports (faust, aiokafka, numpy, scipy) and
recovery leave behind. Freezing those (``gc.freeze``: never scanned again) and collecting the young
generation less often cut the worker's CPU per event by ~20-40% in ``freshrec bench pipeline``
(docs/benchmarks.md). Cycles are still collected; only objects alive at the freeze are exempt.
"""

from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)

#: gen-0 threshold: container allocations between young collections (default 700).
GEN0_THRESHOLD = 20_000

_done = False


def settle_after_recovery() -> bool:
    """Freeze everything alive now and raise the gen-0 threshold; once per process. True if applied."""
    global _done
    if _done:
        return False
    _done = True
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, max(gen1, 50), max(gen2, 100))
    gc.callbacks.append(_log_full_collection)
    return True


_started: list[float] = []


def _log_full_collection(phase: str, info: dict) -> None:
    """Full collections are rare at these thresholds (tens of minutes at a few hundred events/s), and
    cyclic garbage waits for them: their time and yield in the log explain RSS steps in a soak."""
    if info.get("generation") != 2:
        return
    if phase == "start":
        _started[:] = [time.perf_counter()]
    elif _started:
        import psutil

        log.info("full garbage collection: %.0f ms, %d objects collected, %d uncollectable, RSS %.1f MB after",
                 (time.perf_counter() - _started[0]) * 1000, info.get("collected", 0), info.get("uncollectable", 0),
                 psutil.Process().memory_info().rss / 2**20)
