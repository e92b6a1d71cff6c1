"""glibc allocator settings for the long-running worker: few malloc arenas, free pages handed back.

Why (issue #10, docs/benchmarks.md "Third soak"): the worker's RSS kept rising ~2-4 MB/min in 30-minute
soaks while the traced Python heap stayed at ~40 MB. glibc gives each thread that allocates (Faust's
consumer thread, aiokafka, the Redis writer's executor, torch's pools) its own arena, up to 8 per
core, and returns an arena's freed pages to the kernel only when the top of its heap is free. Limiting
the arenas (``mallopt(M_ARENA_MAX)``, the runtime form of ``MALLOC_ARENA_MAX``; it must run before the
threads start) and calling ``malloc_trim`` now and then lets RSS follow the live heap. Both are no-ops
where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's malloc.h


def _glibc():
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def limit_arenas(arenas: int) -> bool:
    """At most ``arenas`` malloc arenas for the threads started from now on; 0 keeps glibc's default.
    True if applied."""
    libc = _glibc()
    if arenas <= 0 or libc is None:
        return False
    ok = bool(libc.mallopt(M_ARENA_MAX, arenas))
    if not ok:
        log.warning("mallopt(M_ARENA_MAX, %d) failed; the C library keeps its default", arenas)
    return ok


def trim() -> bool:
    """Hand free heap pages back to the kernel (``malloc_trim(0)``); True if any were. Blocking (a few
    ms on a few hundred MB; ctypes releases the GIL): call it from an executor thread."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
