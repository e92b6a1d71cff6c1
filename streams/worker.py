"""``freshrec worker``: run the stream worker (Faust) until interrupted."""

from __future__ import annotations

import logging

import typer

from freshrec.settings import ENV_PREFIX, Settings, redact_url

log = logging.getLogger(__name__)


def worker(
    app_id: str = typer.Option(None, "--app-id", envvar=f"{ENV_PREFIX}WORKER_APP_ID",
                               help="Faust app id = consumer group and table prefix."),
    recommender: str = typer.Option(None, "--recommender", envvar=f"{ENV_PREFIX}WORKER_RECOMMENDER",
                                    help="module:factory of the model the worker drives."),
    web_port: int = typer.Option(None, "--web-port", min=0, max=65535, envvar=f"{ENV_PREFIX}WORKER_WEB_PORT",
                                 help="Faust web port; 0 disables the web server."),
    role: str = typer.Option(None, "--role", envvar=f"{ENV_PREFIX}WORKER_ROLE",
                             help="users (events -> sessions -> lists), items (co-visitation, neighbour lists, "
                                  "catalog) or all (default): run the two sides as separate processes to scale "
                                  "them apart."),
    loglevel: str = typer.Option("warning", "--loglevel", help="Faust log level (debug, info, warning, error)."),
) -> None:
    """Consume events and catalog updates, keep sessions, co-visitation and trending in Faust tables,
    and write fresh recommendations to Redis after every take window."""
    from pydantic import ValidationError

    overrides = {k: v for k, v in {"worker_app_id": app_id, "worker_recommender": recommender,
                                   "worker_web_port": web_port, "worker_role": role}.items() if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        _fail("invalid settings: " + "; ".join(f"FRESHREC_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                                               for e in exc.errors()))
    from freshrec.versions import WORKER, UnsupportedVersion, check

    try:
        check(WORKER)  # streams/seek.py, take.py, app.py patch Faust, mode and aiokafka internals
    except UnsupportedVersion as exc:
        _fail(str(exc))
    from streams.allocator import limit_arenas

    limit_arenas(settings.worker_malloc_arenas)  # before any thread starts: see streams/allocator.py
    try:
        from contracts.redis_keys import Keys

        Keys(settings.redis_prefix)
    except ValueError as exc:
        _fail(f"FRESHREC_REDIS_PREFIX: {exc}")
    from freshrec.kafka_security import KafkaSecurityError, kafka_python_config

    try:
        kafka_python_config(settings)
    except KafkaSecurityError as exc:
        _fail(str(exc))
    from faust import Worker
    from kafka.errors import KafkaError

    from streams.app import RecommenderLoadError, build, load_recommender
    from streams.topics import ensure_topics

    try:
        recommender = load_recommender(settings.worker_recommender, settings)  # before touching the broker
    except RecommenderLoadError as exc:
        _fail(str(exc))
    try:
        created = ensure_topics(settings)
    except KafkaError as exc:
        _fail(f"cannot reach Kafka at {settings.kafka_bootstrap} ({exc}); run `freshrec stack up` "
              "or set FRESHREC_KAFKA_BOOTSTRAP")
    if created:
        log.info("created topics %s", ", ".join(created))
    pipeline = build(settings, recommender)
    if settings.runs("users"):
        from streams.bootstrap import BootstrapError, read_compacted
        from streams.topics import neighbors_name

        try:
            lists = read_compacted(settings, neighbors_name(settings))
        except (KafkaError, BootstrapError) as exc:
            _fail(f"cannot read the neighbour lists from {neighbors_name(settings)}: {exc}")
        log.info("installed %d neighbour lists", pipeline.handlers.install_neighbors(lists))
    typer.echo(f"worker {settings.worker_group} ({settings.worker_role}): {settings.topic_events} -> "
               f"{redact_url(settings.redis_url)} prefix {settings.redis_prefix!r}", err=True)
    if settings.worker_metrics_port:
        pipeline.handlers.metrics.serve(settings.worker_metrics_port)
    faust_worker = Worker(pipeline.app, loglevel=loglevel.upper(), quiet=True)
    # Faust's terminal spinner sets the root logger to DEBUG (one spin per record), so every debug
    # line in faust/mode (one per produced record) built a LogRecord: ~10-20% of the worker's CPU.
    faust_worker.spinner = None
    logging.getLogger("faust.transport.drivers.aiokafka").addFilter(quiet_own_changelogs)
    faust_worker.execute_from_commandline()


def quiet_own_changelogs(record: logging.LogRecord) -> bool:
    """Drop Faust's "Stream has not started processing" errors about changelog partitions: after
    recovery the worker only writes its active tables' changelogs, so their highwater is always ahead
    of a position nothing reads, and Faust logged that as an error for every partition every few
    seconds (thousands of lines per soak). Source topics keep the check."""
    if "Stream has not started processing" not in str(record.msg) or not record.args:
        return True
    args = record.args if isinstance(record.args, tuple) else (record.args,)
    return not str(getattr(args[0], "topic", "")).endswith("-changelog")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)
