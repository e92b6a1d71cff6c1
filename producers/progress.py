"""A progress bar on stderr for long producer runs (stdout stays free for ``--json``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn

from freshrec.progress import Progress


@contextmanager
def progress_bar(description: str, total: float | None = None,
                 quiet: bool = False) -> Iterator[Callable[[float, str], None]]:
    """Yield ``update(completed, text)``; a spinner when ``total`` is unknown, a bar otherwise."""
    if quiet:
        yield lambda completed, text="": None
        return
    columns = [SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
               MofNCompleteColumn() if total else TextColumn("{task.completed:,.0f}"),
               TimeElapsedColumn(), TextColumn("{task.fields[info]}")]
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(description, total=total, info="")

        def update(completed: float, text: str = "") -> None:
            progress.update(task, completed=completed, info=text)

        yield update
