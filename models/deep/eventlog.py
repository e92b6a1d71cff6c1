"""The events topic as training sessions: read the log from Kafka, group it by user and session.

The trainer reads the log itself (not the worker's tables): the log is the one complete, replayable
record, and reading it needs no running worker. Events are grouped by ``(user, session_id)`` when the
shop sends a session id, otherwise a user's gap of ``inactivity_ms`` starts a new session; items keep
the order of their timestamps. A record is one event or a pack of them (contracts/packs.py: Freshrec's
own producers send packs). Invalid events are skipped (the worker sends them to the dead-letter topic;
the trainer has nothing to add).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from contracts.events import Event, EventError, decode_event
from contracts.packs import is_pack, split_pack

POLL_MS = 500


@dataclass
class LogSlice:
    """What one read returned: sessions (oldest first) and where the log ended when it was read."""

    sessions: list[list[str]]
    events: int
    end_offsets: dict[int, int]
    first_ts: int | None = None   # event times (ms) of the oldest and newest event read
    last_ts: int | None = None

    @property
    def end(self) -> int:
        return sum(self.end_offsets.values())


def decode_record(value: bytes) -> list[Event]:
    """The valid events of one record, a single event or a pack; the invalid ones are dropped."""
    try:
        parts = split_pack(value) if is_pack(value) else [value]
    except EventError:
        return []
    out = []
    for raw in parts:
        try:
            out.append(decode_event(raw))
        except EventError:
            pass
    return out


def sessions_from_events(events: Iterable[Event], inactivity_ms: int) -> list[list[str]]:
    """Item sequences per session, sessions ordered by their first event (the split cuts the newest)."""
    open_: dict[tuple[str, str | None], tuple[int, int]] = {}  # key -> (session index, last ts)
    sessions: list[tuple[int, list[tuple[int, str]]]] = []
    for ev in sorted((e for e in events if e.is_interaction and e.item_id), key=lambda e: e.ts):
        key = (ev.user_id, ev.session_id)
        found = open_.get(key)
        if found is None or (ev.session_id is None and ev.ts - found[1] > inactivity_ms):
            sessions.append((ev.ts, []))
            found = (len(sessions) - 1, ev.ts)
        sessions[found[0]][1].append((ev.ts, ev.item_id))
        open_[key] = (found[0], ev.ts)
    return [[item for _, item in items] for _, items in sessions]


class EventLog:
    """A reader of one topic with kafka-python (no consumer group: offsets are assigned, never committed)."""

    def __init__(self, config: dict, topic: str):
        self.config = config
        self.topic = topic

    @classmethod
    def from_settings(cls, settings, topic: str | None = None) -> EventLog:
        from freshrec.kafka_security import kafka_python_config

        return cls({"bootstrap_servers": settings.kafka_bootstrap, **kafka_python_config(settings)},
                   topic or settings.topic_events)

    def _consumer(self):
        from kafka import KafkaConsumer

        return KafkaConsumer(**self.config, enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=POLL_MS, client_id="freshrec-trainer")

    def _partitions(self, consumer) -> list:
        from kafka import TopicPartition

        parts = consumer.partitions_for_topic(self.topic)
        if not parts:
            raise LookupError(f"topic {self.topic!r} does not exist on {self.config['bootstrap_servers']}; "
                              f"set FRESHREC_TOPIC_EVENTS or produce events first")
        return [TopicPartition(self.topic, p) for p in sorted(parts)]

    def end_offset(self) -> int:
        """Total records ever written (sum of end offsets), cheap enough to poll."""
        consumer = self._consumer()
        try:
            return sum(consumer.end_offsets(self._partitions(consumer)).values())
        finally:
            consumer.close()

    def read(self, *, inactivity_ms: int, since_ms: int | None = None, max_events: int | None = None,
             on_progress: Callable[[int, int], None] | None = None) -> LogSlice:
        """Everything up to the current end (from ``since_ms`` when given; at most the newest
        ``max_events`` per the partition share), grouped into sessions."""
        consumer = self._consumer()
        try:
            parts = self._partitions(consumer)
            consumer.assign(parts)
            end = consumer.end_offsets(parts)
            begin = consumer.beginning_offsets(parts)
            if since_ms is not None:
                found = consumer.offsets_for_times({tp: since_ms for tp in parts})
                begin = {tp: (found[tp].offset if found.get(tp) else end[tp]) for tp in parts}
            if max_events:
                share = max(1, max_events // len(parts))
                begin = {tp: max(begin[tp], end[tp] - share) for tp in parts}
            for tp in parts:
                consumer.seek(tp, begin[tp])
            total = sum(end[tp] - begin[tp] for tp in parts)
            events: list[Event] = []
            done = 0
            remaining = {tp for tp in parts if begin[tp] < end[tp]}
            while remaining:
                batches = consumer.poll(timeout_ms=POLL_MS, max_records=10_000)
                for tp, records in batches.items():
                    for rec in records:
                        if rec.offset >= end[tp]:
                            continue
                        done += 1
                        events.extend(decode_record(rec.value))
                for tp in list(remaining):
                    if consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
                if on_progress is not None:
                    on_progress(done, total)
            times = [e.ts for e in events]
            return LogSlice(sessions_from_events(events, inactivity_ms), len(events),
                            {tp.partition: end[tp] for tp in parts}, min(times, default=None),
                            max(times, default=None))
        finally:
            consumer.close()
