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


class MemoryTracer:
    def __init__(self, top: int = 15):
        self.top = top
        if not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)
        self.baseline: tracemalloc.Snapshot | None = None

    @staticmethod
    def _snapshot() -> tracemalloc.Snapshot:
        # The tracer's own bookkeeping is not what grows in the worker.
        return tracemalloc.take_snapshot().filter_traces([
            tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")])

    def report(self) -> list[str]:
        """Top growth lines since the first call (the first call only takes the baseline)."""
        snap = self._snapshot()
        if self.baseline is None:
            self.baseline = snap
            return []
        stats = snap.compare_to(self.baseline, "traceback")[: self.top]
        traced, peak = tracemalloc.get_traced_memory()
        import psutil

        # RSS far above "traced" is memory outside the Python heap or freed but not returned (fragmentation).
        rss = psutil.Process().memory_info().rss
        lines = [f"rss {rss / 2**20:.1f} MB, traced {traced / 2**20:.1f} MB (peak {peak / 2**20:.1f} MB)"]
        for st in stats:
            # Tracebacks run oldest frame first: the allocating line is the last one.
            frames = " <- ".join(f"{f.filename.rsplit('/', 2)[-1]}:{f.lineno}" for f in list(st.traceback)[::-1][:5])
            lines.append(f"{st.size_diff / 2**20:+8.2f} MB {st.count_diff:+9d} blocks  {frames}")
        return lines

    def log_report(self, tables=None) -> None:
        lines = self.report()
        if tables is not None:
            lines.append("tables: " + table_sizes(tables))
        if lines:
            log.warning("memory growth since start:\n  %s", "\n  ".join(lines))


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
