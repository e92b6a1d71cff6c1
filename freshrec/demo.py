"""``freshrec demo``: the worker, the simulated shop and the API with its product page, until Ctrl-C.

Each part runs as its own ``freshrec`` sub-command in a child process (their logs go to
``<stack dir>/demo/``), so the demo exercises exactly what an operator would run. A part whose command
is missing or exits is reported and the rest keeps running: the page still serves whatever Redis holds.
``--smoke`` instead sends sample events through Kafka and prints them as they come back (the data path
alone, no worker needed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import typer

from freshrec.settings import Settings

STOP_TIMEOUT_S = 15.0


@dataclass
class Part:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen | None = None
    reported: bool = False


def demo(
    port: int = typer.Option(None, min=0, max=65535, envvar="FRESHREC_SERVE_PORT", show_envvar=True,
                             help="Port of the API and page (default 8000, or a free one if taken)."),
    shop_rate: float = typer.Option(20.0, min=0.1, help="Simulated shop events per second, as a mean over the day "
                                   "(the hour-of-day profile makes UTC nights about 8 times quieter)."),
    shop_users: int = typer.Option(500, min=1, help="Simulated shop users (about 17 per event/s)."),
    shop_items: int = typer.Option(600, min=2, help="Simulated shop catalog size."),
    seed: int = typer.Option(7, help="Seed of the simulated shop."),
    worker: bool = typer.Option(True, "--worker/--no-worker", help="Start `freshrec worker`."),
    shop: bool = typer.Option(True, "--shop/--no-shop", help="Start `freshrec shop` in the background."),
    smoke: bool = typer.Option(False, "--smoke", help="Only send sample events through Kafka and print them."),
    events: int = typer.Option(20, "--events", "-n", min=1, max=100_000, help="With --smoke: events to send."),
) -> None:
    """Start the stream worker, the simulated shop and the API, print the product page's URL, stop all on Ctrl-C.

    Needs the stack (`freshrec stack up`; `make demo` starts it). Open the URL, click a recommendation:
    the click and view go through Kafka to the worker, and the list on the new page follows within a second.
    """
    settings = Settings()
    if smoke:
        return _smoke(settings, events)
    _check_services(settings)
    from freshrec.stack.manager import connection_env
    from freshrec.stack.process import free_port, port_is_free

    port = settings.serve_port if port is None else port
    if port and not port_is_free(port):
        typer.echo(f"port {port} is taken; using a free one")
        port = 0
    port = port or free_port()
    log_dir = settings.resolved_stack_dir / "demo"
    log_dir.mkdir(parents=True, exist_ok=True)
    exe = [sys.executable, "-m", "freshrec"]
    parts: list[Part] = []
    if worker:
        parts.append(Part("worker", [*exe, "worker"], log_dir / "worker.log"))
    if shop:
        shop_argv = _shop_argv(exe, shop_rate, shop_users, shop_items, seed)
        if shop_argv is None:
            typer.secho("warning: `freshrec shop` is not available in this checkout; no background traffic "
                        "(the page still works with your own clicks)", fg=typer.colors.YELLOW)
        else:
            parts.append(Part("shop", shop_argv, log_dir / "shop.log"))
    parts.append(Part("api", [*exe, "serve", "--port", str(port), "--host", settings.serve_host], log_dir / "api.log"))
    env = connection_env(settings)
    env.update(_kafka_security_env(settings))
    for part in parts:
        if part.name == "worker" and not _command_exists(exe, "worker", env):  # the shop's was checked above
            typer.secho(f"warning: `freshrec {part.argv[len(exe)]}` is not available; skipping the {part.name}",
                        fg=typer.colors.YELLOW)
            continue
        part.proc = subprocess.Popen(part.argv, stdout=part.log.open("ab"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    # `kill` stops the children like Ctrl-C does; SIGINT too when started in the background (where
    # the shell leaves it ignored and Python would not turn it into KeyboardInterrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    url = f"http://{settings.serve_host}:{port}/"
    try:
        _wait_for_api(url, parts[-1])
        running = ", ".join(p.name for p in parts if p.proc)
        typer.secho(f"\nFreshrec demo: open {url}", fg=typer.colors.GREEN, bold=True)
        typer.echo(f"running: {running}; logs in {log_dir}; Ctrl-C stops them all")
        warm_up = WarmUp(settings) if any(p.name == "worker" and p.proc for p in parts) else None
        if warm_up is not None:
            typer.echo("the worker is warming up (joining Kafka, recovering its state: up to a minute on a first "
                       "start); the page shows its progress until the first recommendations")
        while True:
            if warm_up is not None and (line := warm_up.check()) is not None:
                typer.echo(line)
                if warm_up.done:
                    warm_up.close()
                    warm_up = None
            for part in parts:
                if part.proc and part.proc.poll() is not None and not part.reported:
                    part.reported = True
                    typer.secho(f"warning: {part.name} exited with {part.proc.returncode}; last log lines:\n"
                                f"{_tail(part.log)}", fg=typer.colors.YELLOW, err=True)
                    if part.name == "api":
                        raise typer.Exit(1)
            time.sleep(0.5)
    except KeyboardInterrupt:
        typer.echo("\nstopping the demo…")
    finally:
        _stop(parts)


class WarmUp:
    """Says in the terminal when the worker starts processing and when the page has something to show."""

    def __init__(self, settings: Settings, every_s: float = 2.0):
        from contracts.redis_keys import Keys
        from freshrec.redis_url import sync_client

        self.keys = Keys(settings.redis_prefix)
        self.redis = sync_client(settings.redis_url, socket_timeout=2)
        self.every_s = every_s
        self.started = time.monotonic()
        self.last_check = float("-inf")
        self.processing = False
        self.done = False

    def check(self) -> str | None:
        """A line to print when the worker reached the next stage, else None (Redis read every ``every_s``)."""
        now = time.monotonic()
        if self.done or now - self.last_check < self.every_s:
            return None
        self.last_check = now
        try:
            events = self.redis.hget(self.keys.stats("worker"), "events")
            trending = self.redis.exists(self.keys.trending())
        except Exception:  # noqa: BLE001 - progress output only; the page says more
            return None
        elapsed = now - self.started
        if trending:
            self.done = True
            return (f"worker ready after {elapsed:.0f} s ({int(events or 0):,} events processed): "
                    "the page shows recommendations")
        if events is not None and not self.processing:
            self.processing = True
            return f"worker processing events after {elapsed:.0f} s; the first lists follow in seconds"
        return None

    def close(self) -> None:
        self.redis.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _kafka_config(settings: Settings) -> dict:
    """kafka-python arguments for FRESHREC_KAFKA_SECURITY_* (TLS/SASL); a bad combination exits with its fix."""
    from freshrec.kafka_security import KafkaSecurityError, kafka_python_config

    try:
        return kafka_python_config(settings)
    except KafkaSecurityError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)


def _kafka_security_env(settings: Settings) -> dict[str, str]:
    """The Kafka security settings for the children, whichever source (env, .env file) they came from."""
    env = {"FRESHREC_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
           "FRESHREC_KAFKA_SASL_MECHANISM": settings.kafka_sasl_mechanism}
    if settings.kafka_sasl_username:
        env["FRESHREC_KAFKA_SASL_USERNAME"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        env["FRESHREC_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ssl_cafile:
        env["FRESHREC_KAFKA_SSL_CAFILE"] = str(settings.kafka_ssl_cafile)
    return env


def _kafka_answers(settings: Settings) -> bool:
    from freshrec.stack.kafka import answers_metadata

    config = _kafka_config(settings)
    if not config:
        return answers_metadata(settings.kafka_bootstrap)
    # A secured listener: the probe authenticates like every other client.
    return answers_metadata(settings.kafka_bootstrap, request_timeout_ms=5000, client_id="freshrec-demo-probe",
                            **config)


def _check_services(settings: Settings) -> None:
    from freshrec.stack.redis import answers_ping

    if not _kafka_answers(settings) or not answers_ping(settings.redis_url):
        typer.secho("error: Kafka or Redis does not answer; run `freshrec stack up` first (make demo does), "
                    "or set FRESHREC_KAFKA_BOOTSTRAP / FRESHREC_REDIS_URL", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)


def _command_exists(exe: list[str], name: str, env: dict) -> bool:
    proc = subprocess.run([*exe, name, "--help"], capture_output=True, text=True, env=env, timeout=60)
    return proc.returncode == 0


def _shop_argv(exe: list[str], rate: float, users: int, items: int, seed: int) -> list[str] | None:
    """The shop's command line, with only the options its --help documents (it is developed alongside)."""
    proc = subprocess.run([*exe, "shop", "--help"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, COLUMNS="200"))
    if proc.returncode != 0:
        return None
    argv = [*exe, "shop"]
    for flag, value in (("--rate", rate), ("--users", users), ("--items", items), ("--seed", seed)):
        if flag in proc.stdout:
            argv += [flag, str(value)]
    for flag in ("--read-recs", "--realtime", "--forever"):
        if flag in proc.stdout:
            argv.append(flag)
    return argv


def _wait_for_api(url: str, api: Part, timeout: float = 60.0) -> None:
    import logging

    import httpx

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per poll otherwise

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.proc is None or api.proc.poll() is not None:
            typer.secho(f"error: the API did not start; last log lines:\n{_tail(api.log)}", err=True,
                        fg=typer.colors.RED)
            raise typer.Exit(1)
        try:
            if httpx.get(url + "health", timeout=1.0).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    typer.secho(f"error: the API did not answer at {url} within {timeout:.0f}s; see {api.log}", err=True,
                fg=typer.colors.RED)
    raise typer.Exit(1)


def _stop(parts: list[Part]) -> None:
    # each child leads its own process group (start_new_session), so its own children stop with it
    live = [p for p in parts if p.proc and p.proc.poll() is None]
    for part in live:
        os.killpg(part.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for part in live:
        try:
            part.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(part.proc.pid, signal.SIGKILL)
            part.proc.wait()
        typer.echo(f"stopped {part.name}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _smoke(settings: Settings, events: int, timeout: float = 30.0) -> None:
    """Send sample shop events through a fresh topic and print each one as a consumer receives it."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import KafkaError

    topic = f"freshrec.demo.{uuid.uuid4().hex[:8]}"
    kinds = ["view", "view", "click", "cart", "view", "order"]
    config = _kafka_config(settings)
    try:
        consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
                                 group_id=f"demo-{uuid.uuid4().hex[:8]}", consumer_timeout_ms=int(timeout * 1000),
                                 **config)
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5, **config)
    except KafkaError as exc:
        typer.secho(f"error: cannot reach Kafka at {settings.kafka_bootstrap} ({exc}); "
                    "run `freshrec stack up` or set FRESHREC_KAFKA_BOOTSTRAP", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.echo(f"sending {events} events to {topic} on {settings.kafka_bootstrap}")
    for i in range(events):
        ev = {"event_id": uuid.uuid4().hex, "ts": int(time.time() * 1000), "user_id": f"u{i % 3}",
              "item_id": f"i{(i * 7) % 11}", "type": kinds[i % len(kinds)], "page": "detail"}
        producer.send(topic, key=ev["user_id"].encode(), value=json.dumps(ev).encode())
    producer.flush()
    seen = 0
    for msg in consumer:
        ev = json.loads(msg.value)
        typer.echo(f"  p{msg.partition}@{msg.offset:<4} {ev['user_id']:>3} {ev['type']:<5} {ev['item_id']:>4}"
                   f"  ({time.time() * 1000 - ev['ts']:.0f} ms after send)")
        seen += 1
        if seen == events:
            break
    consumer.close()
    producer.close()
    _delete_topic(settings, topic)
    if seen != events:
        typer.secho(f"error: only {seen}/{events} events came back within {timeout}s", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.echo(f"all {events} events arrived")


def _delete_topic(settings: Settings, topic: str) -> None:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **_kafka_config(settings))
        try:
            admin.delete_topics([topic])
        finally:
            admin.close()
    except KafkaError as exc:  # a leftover demo topic is untidy, not an error
        typer.echo(f"note: could not delete {topic} ({exc})")
