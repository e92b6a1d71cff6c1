"""The worker's filter of Faust's changelog noise (streams/worker.py), on records as Faust makes them."""

from __future__ import annotations

import logging

from faust.types import TP
from mode.utils.logging import CompositeLogger

from streams.worker import quiet_own_changelogs


class Keep(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def test_changelog_idle_errors_dropped_source_ones_kept():
    logger = logging.getLogger("faust.transport.drivers.aiokafka.test")
    logger.propagate = False
    keep = Keep()
    logger.addHandler(keep)
    logger.addFilter(quiet_own_changelogs)
    log = CompositeLogger(logger, formatter=lambda severity, msg, *a, **kw: f"[^---AIOKafkaConsumerThread]: {msg}")
    msg = "Stream has not started processing %r (started %s)."
    log.error(msg, TP("app-sessions-changelog", 1), "5.04 minutes ago")
    log.error(msg, TP("events", 1), "5.04 minutes ago")
    log.error("something else about %r", TP("app-sessions-changelog", 1))
    assert [r.getMessage() for r in keep.records] == [
        "[^---AIOKafkaConsumerThread]: Stream has not started processing TP(topic='events', partition=1) "
        "(started 5.04 minutes ago).",
        "[^---AIOKafkaConsumerThread]: something else about TP(topic='app-sessions-changelog', partition=1)"]
