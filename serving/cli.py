"""``freshrec serve``: the HTTP API and the demo page under uvicorn."""

from __future__ import annotations

import typer

from freshrec.settings import Settings, redact_url


def uvicorn_options(host: str, port: int, log_level: str) -> dict:
    """How ``freshrec serve`` runs uvicorn; ``freshrec bench api`` runs its bound (a bare app) the same way.

    uvloop and httptools when installed (uvicorn[standard]), else asyncio and h11; on the 2-core VM
    they took the server's CPU per request from ~0.46 to ~0.2 ms (docs/benchmarks.md)."""
    try:
        from serving.http_protocol import CoalescingHttpToolsProtocol as http
    except ImportError:  # no httptools: uvicorn picks h11
        http = "auto"
    return dict(host=host, port=port, log_level=log_level, access_log=log_level in ("info", "debug", "trace"),
                loop="auto", http=http, lifespan="on")


def run_uvicorn(factory: str, workers: int, options: dict) -> None:
    """``factory`` ("module:function" returning the ASGI app) in ``workers`` processes sharing the port."""
    import uvicorn

    if workers > 1:
        uvicorn.run(factory, factory=True, workers=workers, **options)
    else:
        uvicorn.Server(uvicorn.Config(factory, factory=True, **options)).run()


def production_app():
    """The app ``freshrec serve`` runs (each ``--workers`` process builds its own from FRESHREC_*)."""
    from serving.api import create_app

    return create_app(Settings(), tune_gc=True)


def serve(
    host: str = typer.Option(None, envvar="FRESHREC_SERVE_HOST", show_envvar=True,
                             help="Address to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, min=0, max=65535, envvar="FRESHREC_SERVE_PORT", show_envvar=True,
                             help="Port (default 8000)."),
    workers: int = typer.Option(1, min=1, max=64, envvar="FRESHREC_SERVE_WORKERS", show_envvar=True,
                                help="Server processes sharing the port (each keeps its own /metrics)."),
    log_level: str = typer.Option("warning", help="uvicorn log level (access logs at 'info')."),
) -> None:
    """Serve GET /recommendations, GET /items/{id}, POST /events, /health, /metrics and the demo page (/).

    Reads Redis as the read-only user (FRESHREC_REDIS_READ_URL, default FRESHREC_REDIS_URL) and
    produces posted events to FRESHREC_TOPIC_EVENTS on FRESHREC_KAFKA_BOOTSTRAP.
    """
    from pydantic import ValidationError

    from freshrec.kafka_security import KafkaSecurityError, aiokafka_config
    from freshrec.versions import SERVING, UnsupportedVersion, check
    from serving.client import RecClient

    try:
        check(SERVING)  # serving/connections.py and http_protocol.py use redis-py and uvicorn internals
    except UnsupportedVersion as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)

    try:
        settings = Settings()
    except ValidationError as exc:
        errors = "; ".join(f"FRESHREC_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        typer.secho(f"error: invalid settings: {errors}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    host = host or settings.serve_host
    port = settings.serve_port if port is None else port
    if log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
        typer.secho(f"error: --log-level {log_level!r}: use critical, error, warning, info or debug",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    try:
        RecClient.from_settings(settings)  # validates the URL and prefix before binding the port
    except ValueError as exc:
        typer.secho(f"error: {exc}; check FRESHREC_REDIS_READ_URL / FRESHREC_REDIS_PREFIX",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    try:
        aiokafka_config(settings)  # POST /events' producer; checked here, not at the first event
    except KafkaSecurityError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    typer.echo(f"serving on http://{host}:{port}/  (redis {redact_url(settings.reader_url)}, "
               f"kafka {settings.kafka_bootstrap})")
    try:
        run_uvicorn("serving.cli:production_app", workers, uvicorn_options(host, port, log_level))
    except OSError as exc:
        typer.secho(f"error: cannot listen on {host}:{port} ({exc}); pick another --port or FRESHREC_SERVE_PORT",
                    err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
