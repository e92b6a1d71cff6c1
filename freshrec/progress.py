"""Progress for long commands, visible in a terminal and in a log file alike.

rich draws a live bar only on a terminal; with stderr redirected (``nohup``, CI, a service's log) it
prints at most the final state, so an hour-long soak or a training run would say nothing until it ends.
:class:`Progress` is rich's, plus one plain line per task every ``every_s`` seconds off a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich import progress as rp

#: Seconds between plain progress lines when the console is not a terminal.
PLAIN_EVERY_S = 30.0


class Progress(rp.Progress):
    """:class:`rich.progress.Progress` that also writes ``description: done/total (pct) elapsed info``
    lines at most every ``every_s`` seconds (per task) when its console is not a terminal."""

    def __init__(self, *columns: Any, every_s: float = PLAIN_EVERY_S,
                 clock: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        super().__init__(*columns, get_time=clock, **kwargs)
        self._plain = not self.console.is_terminal and not self.disable
        self._every_s, self._clock = every_s, clock
        self._last_line: dict[rp.TaskID, float] = {}

    def add_task(self, description: str, *args: Any, **kwargs: Any) -> rp.TaskID:
        task_id = super().add_task(description, *args, **kwargs)
        self._last_line[task_id] = self._clock()
        return task_id

    def update(self, task_id: rp.TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._maybe_line(task_id)

    def advance(self, task_id: rp.TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._maybe_line(task_id)

    def _maybe_line(self, task_id: rp.TaskID) -> None:
        if not self._plain:
            return
        now = self._clock()
        if now - self._last_line.get(task_id, now) < self._every_s:
            return
        self._last_line[task_id] = now
        self.console.print(plain_line(self._tasks[task_id]), markup=False, highlight=False, soft_wrap=True)


def plain_line(task: rp.Task) -> str:
    """One task's state as text, e.g. ``soak at 400/s: 1,800/3,600 (50%) 30m00s RSS 200 MB``."""
    done = f"{task.completed:,.0f}"
    if task.total:
        done += f"/{task.total:,.0f} ({100 * task.completed / task.total:.0f}%)"
    minutes, seconds = divmod(int(task.elapsed or 0), 60)
    info = task.fields.get("info", "")
    return f"{task.description}: {done} {minutes}m{seconds:02d}s" + (f" {info}" if info else "")
