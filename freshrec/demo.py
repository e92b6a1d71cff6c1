"""``freshrec demo``: events through the real Kafka, shown as they arrive.

This is the first slice of the demo: it proves the data path producer -> Kafka -> consumer on the
running stack. Later pieces (shop, worker, serving page) extend it.
"""

from __future__ import annotations

import json
import time
import uuid

import typer

from freshrec.settings import Settings


def demo(
    events: int = typer.Option(20, "--events", "-n", min=1, max=100_000, help="How many sample events to send."),
    topic: str = typer.Option("", help="Topic to use; default a fresh `freshrec.demo.<id>` topic."),
    timeout: float = typer.Option(30.0, help="Seconds to wait for every event to come back."),
) -> None:
    """Send sample shop events through Kafka and print each one as a consumer receives it."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.errors import KafkaError

    settings = Settings()
    topic = topic or f"freshrec.demo.{uuid.uuid4().hex[:8]}"
    kinds = ["view", "view", "click", "cart", "view", "order"]
    try:
        consumer = KafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
                                 group_id=f"demo-{uuid.uuid4().hex[:8]}", consumer_timeout_ms=int(timeout * 1000))
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
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
        lag = time.time() * 1000 - ev["ts"]
        typer.echo(f"  p{msg.partition}@{msg.offset:<4} {ev['user_id']:>3} {ev['type']:<5} {ev['item_id']:>4}"
                   f"  ({lag:.0f} ms after send)")
        seen += 1
        if seen == events:
            break
    consumer.close()
    producer.close()
    if seen != events:
        typer.secho(f"error: only {seen}/{events} events came back within {timeout}s", err=True, fg=typer.colors.RED)
        raise typer.Exit(1)
    typer.echo(f"all {events} events arrived")
