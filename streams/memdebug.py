"""Debug aid for memory growth: ``FRESHREC_WORKER_TRACEMALLOC_S=N`` logs, every N seconds, the source
lines whose allocations grew most since the first snapshot (``tracemalloc`` snapshot diff).

Off by default: tracing every allocation slows the worker several-fold. Run it under a soak
(``freshrec bench soak``) and read the worker log for ``memory growth since start``.
"""

from __future__ import annotations

import logging
import tracemalloc

log = logging.getLogger(__name__)

FRAMES = 3  # the allocating line and two callers; more frames slow the worker much more
#: Blocks this large bypass glibc's heap (its default mmap threshold): RSS that grows in separate
#: mappings is either these, or native allocations tracemalloc cannot see.
LARGE_BLOCK = 128 * 1024


class MemoryTracer:
    def __init__(self, top: int = 15):
        self.top = top
        if not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)
        self.baseline: tracemalloc.Snapshot | None = None
        self.large_baseline: dict = {}

    @staticmethod
    def _snapshot() -> tracemalloc.Snapshot:
        # The tracer's own bookkeeping is not what grows in the worker.
        return tracemalloc.take_snapshot().filter_traces([
            tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")])

    def report(self) -> list[str]:
        """Top growth lines since the first call (the first call only takes the baseline)."""
        snap = self._snapshot()
        if self.baseline is None:
            self.baseline, self.large_baseline = snap, large_blocks(snap)
            return []
        stats = snap.compare_to(self.baseline, "traceback")[: self.top]
        traced, peak = tracemalloc.get_traced_memory()
        import psutil

        # RSS far above "traced" is memory outside the Python heap or freed but not returned (fragmentation).
        rss = psutil.Process().memory_info().rss
        lines = [f"rss {rss / 2**20:.1f} MB, traced {traced / 2**20:.1f} MB (peak {peak / 2**20:.1f} MB)"]
        for st in stats:
            lines.append(f"{st.size_diff / 2**20:+8.2f} MB {st.count_diff:+9d} blocks  {_frames(st.traceback)}")
        large = large_blocks(snap)
        total = sum(size for _, size in large.values()) / 2**20
        lines.append(f"blocks of {LARGE_BLOCK // 1024} KiB or more: {total:.1f} MB live; growth by line:")
        growth = sorted(((size - self.large_baseline.get(tb, (0, 0))[1], count - self.large_baseline.get(tb, (0, 0))[0], tb)
                         for tb, (count, size) in large.items()), key=lambda x: -x[0])
        for size, count, tb in growth[:5]:
            lines.append(f"{size / 2**20:+8.2f} MB {count:+9d} large  {_frames(tb)}")
        return lines

    def log_report(self, tables=None) -> None:
        lines = self.report()
        if tables is not None:
            lines.append("tables: " + table_sizes(tables))
        if lines:
            log.warning("memory growth since start:\n  %s", "\n  ".join(lines))


def _frames(traceback) -> str:
    # Tracebacks run oldest frame first: the allocating line is the last one.
    return " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in list(traceback)[::-1][:5])


def large_blocks(snap: tracemalloc.Snapshot) -> dict:
    """Traceback -> (count, bytes) of the live blocks of at least :data:`LARGE_BLOCK` bytes."""
    out: dict = {}
    for trace in snap.traces:
        if trace.size >= LARGE_BLOCK:
            count, size = out.get(trace.traceback, (0, 0))
            out[trace.traceback] = (count + 1, size + trace.size)
    return out


def table_sizes(tables) -> str:
    """Rows and value bytes of each worker table held here (``streams.tables.Tables``)."""
    out = []
    for name in ("sessions", "item_stats", "neighbors", "catalog"):
        data = getattr(tables, name).data
        size = sum(len(v) for v in data.values() if v is not None)
        out.append(f"{name} {len(data)} rows {size / 2**20:.1f} MB")
    idle = getattr(tables.sessions, "idle", None)
    if idle is not None:
        out.append(f"idle index {len(idle)} keys")
    return ", ".join(out)
