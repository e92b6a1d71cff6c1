"""The worker's glibc allocator settings (streams/allocator.py) apply here (Debian: glibc) and are
no-ops when asked for nothing."""

from __future__ import annotations

import ctypes

from streams.allocator import _glibc, limit_arenas, trim


def test_this_machine_has_glibc():
    assert _glibc() is not None  # else the soak figures in docs/benchmarks.md say nothing about the fix


def test_zero_arenas_keeps_the_default():
    assert limit_arenas(0) is False


def test_arenas_can_be_limited():
    assert limit_arenas(8) is True  # glibc's own default on small machines: harmless for the test run


def test_trim_hands_freed_pages_in_the_middle_of_the_heap_back():
    # Every other 64 KiB block freed: whole free pages sit between live blocks, which glibc's own
    # free() keeps (it trims only the top of the heap) and malloc_trim gives back.
    blocks = [ctypes.create_string_buffer(64 * 1024) for _ in range(400)]
    keep = blocks[::2]
    del blocks
    assert trim() is True
    assert len(keep) == 200
