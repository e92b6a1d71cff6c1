"""``freshrec bench``: benchmarks that print JSON (speed and memory targets are checked here, not in tests).

Each benchmark lives beside the code it measures; this module only gathers them into one command group.
"""

from __future__ import annotations

import typer

app = typer.Typer(help="Benchmarks; each prints one JSON object (record figures in docs/benchmarks.md).",
                  no_args_is_help=True)

from producers.bench_produce import produce  # noqa: E402 - each benchmark lives beside what it measures

app.command(name="produce")(produce)

from freshrec.benchmarks.serving import api as bench_api, lookup as bench_lookup  # noqa: E402
app.command(name="lookup")(bench_lookup); app.command(name="api")(bench_api)  # noqa: E702

from freshrec.benchmarks.pipeline import pipeline  # noqa: E402 - each benchmark registers itself below
app.command(name="pipeline")(pipeline)
from models.deep.cli import bench as bench_deep  # noqa: E402
app.command(name="deep")(bench_deep)
from freshrec.benchmarks.soak import soak  # noqa: E402
app.command(name="soak")(soak)
from freshrec.benchmarks.curve import curve  # noqa: E402
app.command(name="curve")(curve)
