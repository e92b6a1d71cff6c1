"""``freshrec bench produce``: events/s written to Kafka by replay and by the simulated shop.

Each measurement writes to a fresh topic (deleted afterwards) and counts what arrived from the
topic's end offsets, so a figure is never reported for records that were lost.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path

import typer

from freshrec.settings import Settings

DEFAULT_LOG = Path("../shared/data/diginetica/train_sessions.tsv.gz")


def produce(
    path: Path = typer.Option(DEFAULT_LOG, "--path", help="Log to replay (any `freshrec replay` format)."),
    events: int = typer.Option(300_000, min=1000, help="Events per replay measurement."),
    record_events: int = typer.Option(50_000, min=1000, help="Events for the per-record (kafka-python) replay."),
    shop_events: int = typer.Option(50_000, min=1000, help="Events for the shop measurement."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object (the default prints it too, indented)."),
) -> None:
    """Measure replay (bulk and per-record producer) and shop throughput into the local Kafka."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    from producers.batch_out import BatchSender
    from producers.kafka_out import EventProducer, ProducerError, ensure_topics
    from producers.replay import replay
    from producers.replay_formats import FormatError, detect_format, read
    from contracts.events import Event, encode_event, encode_item
    from producers.shop import Shop

    # Under load kafka-python warns about its own slow poll loop; the JSON is the report.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    settings = Settings()
    run = uuid.uuid4().hex[:8]
    topics: list[str] = []

    def fresh(name: str) -> str:
        topic = f"bench.{name}.{run}"
        ensure_topics(settings, events=topic, catalog=f"{topic}.catalog")
        topics.extend([topic, f"{topic}.catalog"])
        return topic

    def arrived(topic: str) -> int:
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        total = sum(consumer.end_offsets(parts).values())
        consumer.close()
        return total

    def replay_into(sender, topic: str, n: int) -> dict:
        stats = replay(read(path, kind), lambda user, value: sender.send_raw(topic, user.encode(), value), limit=n)
        t0 = time.perf_counter()
        sender.flush()
        seconds = stats.seconds + time.perf_counter() - t0
        got = arrived(topic)
        return {"events": stats.sent, "arrived": got, "seconds": round(seconds, 3),
                "events_per_s": round(got / seconds, 1)}

    try:
        kind = detect_format(path)
        result: dict = {"path": str(path), "format": kind}
        topic = fresh("replay-bulk")
        with BatchSender(settings.kafka_bootstrap) as bulk:
            result["replay_bulk"] = replay_into(bulk, topic, events)
        topic = fresh("replay-record")
        with EventProducer.from_settings(settings) as rec:
            result["replay_record"] = replay_into(rec, topic, record_events)
        topic = fresh("shop")
        # Enough users that the session model can sustain the rate; generation alone is timed too.
        shop_args = dict(users=200_000, items=5000, rate=2000.0, seed=1, duration_s=shop_events / 2000.0)
        sim = Shop(**shop_args)
        t0 = time.perf_counter()
        n_gen = sum(1 for _ in sim.run())
        gen_s = time.perf_counter() - t0
        sim = Shop(**shop_args)
        with BatchSender(settings.kafka_bootstrap) as out:  # as `freshrec shop --fast` sends
            t0 = time.perf_counter()
            n_ev = 0
            for _, rec in sim.run():
                if isinstance(rec, Event):
                    out.send_raw(topic, rec.user_id.encode(), encode_event(rec))
                    n_ev += 1
                else:
                    out.send_raw(f"{topic}.catalog", rec.item_id.encode(), encode_item(rec))
            out.flush()
            shop_s = time.perf_counter() - t0
        result["shop"] = {"records": n_gen, "events": n_ev, "arrived": arrived(topic),
                          "generate_records_per_s": round(n_gen / gen_s, 1),
                          "seconds": round(shop_s, 3), "events_per_s": round(n_ev / shop_s, 1)}
        result["target_replay_events_per_s"] = 50_000
        result["target_met"] = result["replay_bulk"]["events_per_s"] >= 50_000
    except (FormatError, ProducerError) as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2)
    finally:
        if topics:
            admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
            admin.delete_topics(topics)
            admin.close()
    typer.echo(json.dumps(result) if as_json else json.dumps(result, indent=2))
