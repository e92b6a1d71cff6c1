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
        big = [bytearray(256 * 1024) for _ in range(4)]  # 1 MB in large blocks (their own mappings)
        lines = tracer.report()
        assert lines[0].startswith("rss ") and "traced" in lines[0]
        assert any("test_memdebug.py" in line and line.split()[0].startswith("+") for line in lines[1:]), lines
        large = lines[lines.index(next(x for x in lines if x.startswith("blocks of 128 KiB"))) + 1:]
        assert large and "+1.00 MB" in large[0] and "+4 large" in large[0] and "test_memdebug.py" in large[0], lines
        del hoard, big
    finally:
        if not was_tracing:
            tracemalloc.stop()  # tracing slows every later test in this process


def test_table_sizes_counts_rows_and_bytes():
    from types import SimpleNamespace

    from streams.memdebug import table_sizes

    t = lambda rows: SimpleNamespace(data=rows)  # noqa: E731
    tables = SimpleNamespace(sessions=t({"u": b"x" * 2**20}), item_stats=t({}), neighbors=t({"i": b"ab"}),
                             catalog=t({"i": None}))
    text = table_sizes(tables)
    assert "sessions 1 rows 1.0 MB" in text and "neighbors 1 rows 0.0 MB" in text and "idle" not in text
