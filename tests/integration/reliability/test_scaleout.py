"""The scaled-out deployment of docs/scaling.md, end to end: a three-node Kafka (every topic replicated
3 times, min.insync.replicas 2, acks=all) and a Redis Cluster of three masters, both started by the
stack manager (`freshrec stack up --kafka-brokers 3 --redis-cluster`) once for the module.

- a replay reaches Redis through the worker and is served by the API, ``forget`` and the shop's reader;
- a broker SIGKILLed mid-replay: the run finishes with every event applied once (the crash test's check);
- a Redis master SIGKILLed (no replicas): the worker retries while the node is away, Kafka keeps the
  events, pages read the other masters' keys meanwhile, and every list catches up once it is back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading

import pytest

from freshrec.redis_url import sync_client

from .harness import REPO, own_stack, wait_until
from .replay import RecWatcher, all_reflected, item_side_difference, items_state, sessions_state
from .test_crash import EXACT, produce
from .test_outages import caught_up, nothing_lost

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def scaleout(shared_stack, tmp_path_factory):
    """Three Kafka nodes and three Redis masters of our own, for the whole module."""
    with own_stack(tmp_path_factory.mktemp("scaleout") / "stack", shared_stack.cache_dir, stack_kafka_brokers=3,
                   stack_redis_cluster=True, stack_kafka_heap="320m") as made:
        yield made


@pytest.fixture
def cluster_dep(scaleout, deployments):
    stack, conn = scaleout
    stack.up()  # a node an earlier test killed is back (a no-op when all run)
    return deployments(kafka_bootstrap=conn["kafka_bootstrap"], redis_url=conn["redis_url"],
                       FRESHREC_TOPIC_REPLICATION_FACTOR=str(conn["topic_replication_factor"]),
                       FRESHREC_WORKER_SESSION_TIMEOUT_S="10")


def start(dep, events):
    dep.ensure_topics()
    worker = dep.worker(loglevel="info")  # group joins and recovery in the log: what a failure report needs
    worker.start()
    produce(dep, events)
    try:
        wait_until(lambda: dep.stats().get("events", 0) >= len(events), 120, f"the first {len(events)} events")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; group {dep.group_state()}, committed {dep.committed_offsets()}; "
                             f"log {worker.log_path}:\n{worker.log(20_000)}") from None
    return worker


def replicas(dep) -> dict[str, object]:
    """Replica counts of the events topic's partitions and its min.insync.replicas."""
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType

    admin = KafkaAdminClient(bootstrap_servers=dep.settings.kafka_bootstrap)
    try:
        topic = dep.settings.topic_events
        (described,) = admin.describe_topics([topic])
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"min.insync.replicas": None})],
                                         config_filter="all")
        return {"replicas": sorted({len(p["replica_nodes"]) for p in described["partitions"]}),
                "min_insync": configs["topic"][topic]["min.insync.replicas"]["value"]}
    finally:
        admin.close()


def lookup(conn, dep, pairs):
    """The API's answers (GET /recommendations) for ``(user, item)`` pairs, through the reader user."""
    import httpx

    from serving.api import create_app
    from serving.client import RecClient

    settings = dep.settings.model_copy(update={"redis_read_url": conn["redis_read_url"]})

    async def run():
        client = RecClient.from_settings(settings, url=conn["redis_read_url"])
        client.timeout_s = 2.0  # a loaded 2-core machine; the fallback is what a failed read shows
        app = create_app(settings, client=client, sink=object())  # no POST /events here: no Kafka sink
        try:
            async with app.router.lifespan_context(app), httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://api") as http:
                return [(await http.get("/recommendations", params={"user": u, "item": i, "k": 5})).json()
                        for u, i in pairs]
        finally:
            await client.close()
    return asyncio.run(run())


def test_replay_through_the_worker_to_a_redis_cluster_and_the_api(scaleout, cluster_dep, reference_run):
    ref, events = reference_run
    stack, conn = scaleout
    dep = cluster_dep
    worker = start(dep, events)
    wait_until(lambda: caught_up(dep, events), 60, lambda: f"every user's list (log: {worker.log()})", interval=0.3)
    nothing_lost(dep, ref, events)
    assert replicas(dep) == {"replicas": [3], "min_insync": "2"}
    assert "CROSSSLOT" not in worker.log(10**6)

    users = sorted({e.user_id for e in events})
    answers = lookup(conn, dep, [(u, "i1") for u in users] + [(None, "i1")])
    assert all(a["items"] and not a["degraded"] for a in answers), answers[:3]
    assert {a["source"] for a in answers[:-1]} <= {"user", "blend"}

    # the shop's --read-recs reader, as the read-only user of the cluster
    from contracts.redis_keys import Keys
    from producers.shop_cli import redis_recs_reader

    read = redis_recs_reader(sync_client(conn["redis_read_url"]), Keys(dep.settings.redis_prefix))
    assert read(users[0], "i1") is not None

    # `freshrec forget` deletes the list now, and the worker (after the forget event) for good
    env = {**dep.env, "FRESHREC_REDIS_WRITE_URL": conn["redis_write_url"]}
    done = subprocess.run([sys.executable, "-m", "freshrec", "forget", users[0], "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    key = dep.settings.redis_prefix + f"rec:user:{users[0]}"
    wait_until(lambda: sessions_state(dep).get(users[0]) is None, 60, "the worker to forget the user")
    assert not dep.redis.exists(key)


def leader_of_events(dep, pids_by_port: dict[int, int]) -> int:
    """The pid of the broker leading most partitions of the events topic."""
    from collections import Counter

    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=dep.settings.kafka_bootstrap)
    try:
        (described,) = admin.describe_topics([dep.settings.topic_events])
        node_ports = {b["broker_id"]: b["port"] for b in admin.describe_cluster()["brokers"]}
    finally:
        admin.close()
    leader = Counter(p["leader_id"] for p in described["partitions"]).most_common(1)[0][0]
    return pids_by_port[node_ports[leader]]


def test_a_broker_killed_mid_replay_loses_nothing_and_applies_every_event_once(scaleout, cluster_dep,
                                                                                reference_run):
    ref, events = reference_run
    stack, conn = scaleout
    dep = cluster_dep
    half = len(events) // 2
    worker = start(dep, events[:half])
    ports = [port for port, _ in stack._load_state()["kafka_nodes"]]
    pids = {port: stack.paths.kafka_node_pid(i + 1).read() for i, port in enumerate(ports)}
    victim = leader_of_events(dep, pids)

    feeder = threading.Thread(target=produce, args=(dep, events[half:], 400.0))
    feeder.start()
    wait_until(lambda: dep.stats().get("events", 0) >= half + 100, 60,
               lambda: f"the worker mid-replay ({worker.log()})")
    os.kill(victim, signal.SIGKILL)  # no controlled shutdown: leaders move after the session timeout
    processed_at_kill = dep.stats().get("events", 0)
    feeder.join(120)
    assert not feeder.is_alive(), "the producer (acks=all, min.insync 2) stalled with one broker gone"
    assert processed_at_kill < len(events), "the kill came after the replay: nothing was interrupted"

    try:
        wait_until(lambda: all_reflected(dep, events) or not worker.alive(), 120, "every event in the sessions",
                   interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {dep.missing_report(events)}; log {worker.log_path}:\n{worker.log()}") from None
    assert worker.alive(), worker.log()
    assert sessions_state(dep) == sessions_state(ref)  # each event once in its session, in order
    half_life_ms = dep.settings.covis_half_life_s * 1000
    wait_until(lambda: set(items_state(dep)) == set(items_state(ref)), 60, "the item side")
    wait_until(lambda: max(item_side_difference(items_state(dep), items_state(ref), half_life_ms).values()) < EXACT,
               60, "the item side to equal the reference run", interval=1.0)
    wait_until(lambda: caught_up(dep, events), 60, "every user's list")


def test_a_redis_master_killed_blocks_its_keys_until_it_is_back_and_nothing_is_lost(scaleout, cluster_dep,
                                                                                     reference_run):
    from redis.crc import key_slot

    ref, events = reference_run
    stack, conn = scaleout
    dep = cluster_dep
    third = len(events) // 3
    worker = start(dep, events[:third])
    admin = sync_client(conn["redis_url"])
    prefix = dep.settings.redis_prefix

    def node_of(key: str) -> str:
        return admin.get_node_from_key(key).name

    # a lookup reads three keys (user, item, trending) and falls back when any of them is on a lost
    # master: lose one that holds neither trending nor the page item's list, to see both kinds of page
    ports = stack._load_state()["redis_cluster_ports"]
    page_item = next(e.item_id for e in events if node_of(f"{prefix}rec:item:{e.item_id}") in (
        node_of(f"{prefix}rec:trending"), f"127.0.0.1:{ports[0]}"))
    # ... nor the node the URL names: a cluster client that starts while that one is away cannot learn
    # the slot map (redis-py takes one startup node from a URL)
    keep = {node_of(f"{prefix}rec:trending"), node_of(f"{prefix}rec:item:{page_item}"), f"127.0.0.1:{ports[0]}"}
    victim = next(i for i, port in enumerate(ports) if f"127.0.0.1:{port}" not in keep)
    users = sorted({e.user_id for e in events})
    on_victim = [u for u in users if node_of(f"{prefix}rec:user:{u}") == f"127.0.0.1:{ports[victim]}"]
    elsewhere = [u for u in users if u not in on_victim]
    assert on_victim and elsewhere and len({key_slot(f"{prefix}rec:user:{u}".encode()) for u in users}) > 1

    os.kill(stack.paths.redis_node_pid(victim).read(), signal.SIGKILL)
    feeder = threading.Thread(target=produce, args=(dep, events[third:], 300.0))
    feeder.start()
    wait_until(lambda: "redis unavailable" in worker.log(10**6) and not feeder.is_alive(), 90,
               "the worker to wait for the lost master, and every event to be in Kafka", interval=0.2)
    assert worker.alive(), worker.log()
    # pages meanwhile: the other masters' users get their lists, the lost master's a marked fallback
    answers = lookup(conn, dep, [(elsewhere[0], page_item), (on_victim[0], page_item)])
    assert not answers[0]["degraded"] and answers[0]["source"] in ("user", "blend"), answers[0]
    assert answers[1]["degraded"], answers[1]

    stack.up()  # the node restarts on its port with its nodes.conf and AOF: it rejoins with its slots
    watcher = RecWatcher(dep.redis, dep.settings.redis_prefix)
    wait_until(lambda: caught_up(dep, events), 120,
               lambda: f"every list to catch up (log: {worker.log()})", interval=0.3)
    watcher.stop()
    assert watcher.regressions == []
    nothing_lost(dep, ref, events)
    assert dep.stats()["events"] >= len(events) and worker.alive()
