"""The ``freshrec`` command: one typer app, one sub-command module per concern."""

from __future__ import annotations

import logging

import typer

from freshrec.bench import app as bench_app
from freshrec.config_cli import config
from freshrec.demo import demo
from freshrec.experiment.cli import experiment
from freshrec.report import report
from freshrec.stack.cli import app as stack_app
from models.deep.cli import train as deep_train
from models.deep.trainer_cli import trainer as deep_trainer
from models.evaluation.cli import PATHS, evaluate
from models.online.report import app as ab_app
from producers.forget import forget
from producers.replay import replay_command
from producers.shop_cli import shop
from serving.cli import serve
from streams.worker import worker

app = typer.Typer(
    help="Freshrec: streaming real-time recommendations for online shops "
         "(Kafka -> Faust -> River/torch -> Redis). Settings come from FRESHREC_* env vars.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(stack_app, name="stack")
app.add_typer(bench_app, name="bench")
app.add_typer(ab_app, name="ab")
app.command(name="demo")(demo)
app.command(name="experiment")(experiment)
app.command(name="config")(config)
app.command(name="report")(report)
app.command(name="shop")(shop)
app.command(name="replay")(replay_command)
app.command(name="evaluate")(evaluate)


def _worker_path(model):
    # Imported here: the stream stage (Faust and co.) loads only when --path worker asks for it.
    from streams.worker_path import WorkerPath

    return WorkerPath.from_settings(model)


PATHS["worker"] = _worker_path
app.command(name="worker")(worker)
app.command(name="forget")(forget)
app.command(name="serve")(serve)
app.command(name="train")(deep_train)
app.command(name="trainer")(deep_trainer)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG level.")) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python narrates every connection at INFO; keep our own INFO lines readable.
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
