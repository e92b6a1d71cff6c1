"""The tracemalloc debug aid names the line that grew."""

from __future__ import annotations

import tracemalloc

from streams.memdebug import MemoryTracer


def test_report_names_the_growing_line():
    was_tracing = tracemalloc.is_tracing()
    try:
        tracer = MemoryTracer(top=5)
        assert tracer.report() == []  # the baseline
        hoard = [bytearray(1024) for _ in range(3000)]  # ~3 MB from this line
        lines = tracer.report()
        assert lines[0].startswith("rss ") and "traced" in lines[0]
        assert any("test_memdebug.py" in line and line.split()[0].startswith("+") for line in lines[1:]), lines
        del hoard
    finally:
        if not was_tracing:
            tracemalloc.stop()  # tracing slows every later test in this process
