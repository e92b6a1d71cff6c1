"""``freshrec stack``: start, stop and inspect the local Kafka and Redis."""

from __future__ import annotations

import json

import typer

from freshrec.settings import Settings, env_help
from freshrec.stack.manager import Stack
from freshrec.stack.process import StackError

app = typer.Typer(help="Start, stop and inspect the local Kafka broker and Redis (data under the cache dir).",
                  no_args_is_help=True)


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
    raise typer.Exit(1)


@app.command()
def up(
    redis_cluster: bool = typer.Option(None, "--redis-cluster/--redis-single",
                                       help="A Redis Cluster of three masters instead of one Redis "
                                            + env_help("stack_redis_cluster")),
    kafka_brokers: int = typer.Option(None, "--kafka-brokers", min=1, max=5,
                                      help="Kafka nodes (broker + controller each); 3 replicates every topic "
                                           + env_help("stack_kafka_brokers")),
) -> None:
    """Start Kafka (KRaft) and Redis if they are not running; return once both answer.

    Ports come from FRESHREC_STACK_KAFKA_PORT / FRESHREC_STACK_REDIS_PORT or are picked free (always
    free ones for a cluster); the chosen endpoints are written to <stack dir>/stack.json for every
    other command. A stack directory runs one shape: `down` before switching to a cluster.
    """
    overrides = {k: v for k, v in (("stack_redis_cluster", redis_cluster),
                                   ("stack_kafka_brokers", kafka_brokers)) if v is not None}
    try:
        status = Stack(Settings(**overrides)).up()
    except StackError as exc:
        _fail(exc)
    typer.echo(f"kafka {status['kafka']} at {status['kafka_bootstrap']}, "
               f"redis {status['redis']} at {status['redis_url']}")


@app.command()
def down() -> None:
    """Stop the Kafka and Redis processes this stack started (and nothing else)."""
    stopped = Stack(Settings()).down()
    typer.echo("stopped " + (", ".join(f"{k} (pid {v})" for k, v in stopped.items()) or "nothing"))


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print one JSON object.")) -> None:
    """Report whether each service is up and where it listens (passwords masked)."""
    st = Stack(Settings()).status()
    if as_json:
        typer.echo(json.dumps(st))
        return
    for name in ("kafka", "redis"):
        where = st[f"{name}_bootstrap" if name == "kafka" else "redis_url"]
        typer.echo(f"{name:6} {st[name]:5} {where or '-'}")
    if st["kafka"] != "up" or st["redis"] != "up":
        raise typer.Exit(3)
