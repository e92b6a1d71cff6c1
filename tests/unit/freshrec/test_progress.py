"""Progress writes plain lines off a terminal, so long runs show progress in log files (freshrec/progress.py)."""

from __future__ import annotations

import io

from rich.console import Console

from freshrec.progress import Progress


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _progress(terminal: bool, clock: Clock) -> tuple[Progress, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=120)
    return Progress(console=console, transient=True, every_s=30, clock=clock), out


def test_off_a_terminal_a_line_per_interval_with_the_state():
    clock = Clock()
    progress, out = _progress(False, clock)
    with progress:
        task = progress.add_task("soak at 400/s", total=3600)
        progress.update(task, completed=10)
        assert out.getvalue() == ""  # not yet 30 s since the task began
        clock.t = 31
        progress.update(task, completed=1800, info="RSS 200 MB")
        clock.t = 40
        progress.advance(task, 5)  # within 30 s of the last line: nothing
        clock.t = 62
        progress.advance(task, 5)
    lines = [line for line in out.getvalue().splitlines() if line]  # rich ends with a blank line
    assert len(lines) == 2, lines
    assert lines[0].startswith("soak at 400/s: 1,800/3,600 (50%) ") and lines[0].endswith("RSS 200 MB")
    assert lines[0].startswith("soak at 400/s: 1,800/3,600 (50%) 0m31s")
    assert lines[1].startswith("soak at 400/s: 1,810/3,600 (50%) 1m02s")


def test_an_unknown_total_shows_the_count():
    clock = Clock()
    progress, out = _progress(False, clock)
    with progress:
        task = progress.add_task("training", total=None)
        clock.t = 100
        progress.update(task, completed=12345)
    assert out.getvalue().startswith("training: 12,345 ")


def test_on_a_terminal_only_rich_draws():
    clock = Clock()
    progress, out = _progress(True, clock)
    with progress:
        task = progress.add_task("replay", total=10)
        clock.t = 100
        progress.update(task, completed=5)
    assert "replay: 5/10" not in out.getvalue()
