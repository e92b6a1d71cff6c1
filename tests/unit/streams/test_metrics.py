from __future__ import annotations

import urllib.request

from prometheus_client import generate_latest

from freshrec.stack.process import free_port
from streams.metrics import WorkerMetrics


def _sample(m: WorkerMetrics, name: str, labels: dict | None = None) -> float | None:
    return m.registry.get_sample_value(name, labels or {})


def test_window_counts_and_freshness_histogram():
    m = WorkerMetrics()
    m.observe_window(accepted=10, dead_letters=2, duplicates=1, lists=9, seconds=0.004, freshness_ms=[20, 80, 400])
    assert _sample(m, "freshrec_worker_events_total", {"outcome": "accepted"}) == 10
    assert _sample(m, "freshrec_worker_events_total", {"outcome": "dead_letter"}) == 2
    assert _sample(m, "freshrec_worker_lists_written_total") == 9
    assert _sample(m, "freshrec_worker_freshness_seconds_count") == 3
    assert _sample(m, "freshrec_worker_freshness_seconds_bucket", {"le": "0.1"}) == 2


def test_model_version_replaces_the_old_label_and_ctr_per_variant():
    m = WorkerMetrics()
    m.set_model_version("deep", "v1")
    m.set_model_version("deep", "v2")
    text = generate_latest(m.registry).decode()
    assert 'version="v2"' in text and 'version="v1"' not in text
    m.observe_ab("default", "A", "impressions", 10)
    m.observe_ab("default", "A", "clicks", 3)
    assert _sample(m, "freshrec_ab_ctr_ratio", {"experiment": "default", "variant": "A"}) == 0.3


def test_metrics_are_served_over_http():
    m = WorkerMetrics()
    m.observe_window(accepted=1, dead_letters=0, duplicates=0, lists=1, seconds=0.001, freshness_ms=[5])
    port = free_port()
    m.serve(port, addr="127.0.0.1")
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "freshrec_worker_events_total" in body


async def test_task_counter_counts_the_tasks_created_on_its_loop():
    import asyncio

    from streams.metrics import TaskCounter

    counter = TaskCounter()
    loop = asyncio.get_running_loop()
    before = loop.get_task_factory()
    counter.install(loop)
    counter.install(loop)  # idempotent: counted once per task
    try:
        await asyncio.gather(*(asyncio.sleep(0) for _ in range(3)))
        await asyncio.create_task(asyncio.sleep(0))
        assert counter.created == 4
    finally:
        loop.set_task_factory(before)
