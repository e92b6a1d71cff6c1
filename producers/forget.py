"""``freshrec forget USER``: erase a user's personal state (right to erasure).

A ``forget`` event goes through the events topic, keyed by the user like every other event, so the
worker that owns the user's partition applies it *in log order*: it deletes the user's session
state from the ``sessions`` table (a changelog tombstone, so no recovery brings it back), which
also drops the recent event ids and the purchased/seen sets, and deletes ``rec:user:{user}``.
Events logged before the forget can never resurrect the list afterwards: they are processed before
it. The CLI also deletes the user's Redis keys at once, so the list vanishes before the worker
catches up.

Not personal, so kept: item co-visitation and trending counts (anonymous aggregates over all users).
The user's raw events stay in the events topic until its retention (``log.retention.hours``) ends.
"""

from __future__ import annotations

import json
import time
import uuid

import typer

from contracts.events import Event
from contracts.ids import MAX_ID_LEN, is_id
from contracts.redis_keys import Keys
from freshrec.settings import ENV_PREFIX, Settings


def forget_event(user_id: str, now_ms: int | None = None) -> Event:
    ts = now_ms if now_ms is not None else int(time.time() * 1000)
    return Event(event_id=f"forget-{uuid.uuid4().hex[:16]}", ts=ts, user_id=user_id, type="forget")


def delete_user_keys(redis_url: str, keys: Keys, user_id: str) -> int:
    """Delete every Redis key holding the user's data; returns how many existed."""
    from freshrec.redis_url import sync_client

    client = sync_client(redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        return int(client.delete(keys.user_recs(user_id)))
    finally:
        client.close()


def forget(
    user: str = typer.Argument(..., help="The user id to erase ([A-Za-z0-9_.-], at most 64 characters)."),
    topic: str = typer.Option(None, "--topic", envvar=f"{ENV_PREFIX}TOPIC_EVENTS",
                              help="Events topic the worker consumes."),
    as_json: bool = typer.Option(False, "--json", help="Print what was done as JSON."),
) -> None:
    """Erase USER: the worker deletes their session state and recommendations (in log order), and
    their Redis keys are deleted now. Co-visitation and trending counts are anonymous and stay."""
    from pydantic import ValidationError

    if not is_id(user):
        _fail(f"user id {user!r} is not valid: use [A-Za-z0-9_.-], at most {MAX_ID_LEN} characters")
    try:
        settings = Settings(**({"topic_events": topic} if topic else {}))
        keys = Keys(settings.redis_prefix)
    except (ValidationError, ValueError) as exc:
        _fail(f"invalid settings: {exc}")
    from producers.kafka_out import EventProducer, ProducerError, ensure_topics

    event = forget_event(user)
    try:
        ensure_topics(settings)
        with EventProducer.from_settings(settings, linger_ms=0, client_id="freshrec-forget") as out:
            out.send_event(event)
    except ProducerError as exc:
        _fail(f"{exc}")
    try:
        deleted = delete_user_keys(settings.writer_url, keys, user)
    except Exception as exc:  # noqa: BLE001 - redis errors: say what to fix, no traceback
        _fail(f"the forget event is on Kafka (the worker will delete the keys), but Redis failed: "
              f"{type(exc).__name__}: {exc}. Check FRESHREC_REDIS_URL")
    result = {"user": user, "event_id": event.event_id, "topic": settings.topic_events, "redis_keys_deleted": deleted}
    typer.echo(json.dumps(result) if as_json else
               f"forget {user}: event {event.event_id} sent to {settings.topic_events}; "
               f"{deleted} Redis key(s) deleted now, the worker erases the session state")


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)
