"""The worker and the producers against a private broker whose listener demands SASL/PLAIN, all
configured through FRESHREC_KAFKA_* settings; the SASL password appears in no log or output."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest

from contracts.events import Event

from .harness import REPO, wait_until
from .replay import T0

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@pytest.fixture
def sasl_broker(tmp_path, shared_stack):
    """A private KRaft broker: plaintext listener (for readiness) plus a SASL_PLAINTEXT one."""
    from freshrec.stack import kafka
    from freshrec.stack.process import free_port, pid_alive, stop_pid

    password = "sasl-" + secrets.token_urlsafe(16)
    port, cport, sasl_port = free_port(), free_port(), free_port()
    libs = kafka.ensure_jars(shared_stack.cache_dir, shared_stack.kafka_version)
    data = tmp_path / "kafka-data"
    config = kafka.write_config(tmp_path / "kafka-conf", data, port, cport, extra=kafka.sasl_listener_config(
        port, cport, sasl_port, {"admin": "admin-" + secrets.token_urlsafe(8), "freshrec": password}))
    kafka.format_storage(libs, config, data)
    log = tmp_path / "kafka.log"
    pid = kafka.start(libs, config, log, "384m")
    try:
        kafka.wait_ready(f"127.0.0.1:{port}", log, alive=lambda: pid_alive(pid), timeout=120)
        yield f"127.0.0.1:{sasl_port}", password, log
    finally:
        stop_pid(pid, timeout=3)  # a throwaway broker: no need to wait for its controlled shutdown


def test_worker_and_producer_over_sasl_and_no_secret_in_logs(deployments, private_redis, sasl_broker):
    bootstrap, password, broker_log = sasl_broker
    dep = deployments(kafka_bootstrap=bootstrap, redis_url=private_redis.url,
                      FRESHREC_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", FRESHREC_KAFKA_SASL_MECHANISM="PLAIN",
                      FRESHREC_KAFKA_SASL_USERNAME="freshrec", FRESHREC_KAFKA_SASL_PASSWORD=password)
    assert password not in repr(dep.settings) and password not in str(dep.settings.redacted())
    dep.ensure_topics()  # the admin client authenticates too
    worker = dep.worker(loglevel="info")  # chattier than production: more chances to leak
    worker.start()
    with dep.producer() as out:
        for n, item in enumerate(["a", "b", "c"]):
            out.send_event(Event(event_id=f"s{n}", ts=T0 + n, user_id="sasl-user", item_id=item, type="view"))
    key = dep.settings.redis_prefix + "rec:user:sasl-user"
    wait_until(lambda: (ts := dep.redis.hget(key, "ts")) and int(ts) == T0 + 2 or not worker.alive(), 180,
               lambda: f"the list written through a SASL-authenticated worker (log: {worker.log()})", interval=0.3)
    assert worker.alive(), worker.log()

    cli = subprocess.run([sys.executable, "-m", "freshrec", "--verbose", "forget", "sasl-user", "--json"], cwd=REPO,
                         env=dep.env, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    wait_until(lambda: not dep.redis.exists(key), 30, "the forget")
    # the demo's Kafka path (probe, producer, consumer, admin) authenticates too
    demo = subprocess.run([sys.executable, "-m", "freshrec", "demo", "--smoke", "-n", "5"], cwd=REPO, env=dep.env,
                          capture_output=True, text=True, timeout=120)
    assert demo.returncode == 0 and "all 5 events arrived" in demo.stdout, demo.stdout + demo.stderr
    assert worker.stop() == 0
    outputs = {"worker log": worker.log_path.read_text(errors="replace"), "cli": cli.stdout + cli.stderr,
               "demo": demo.stdout + demo.stderr, "broker log": broker_log.read_text(errors="replace")}
    assert all(text for text in outputs.values())
    assert [name for name, text in outputs.items() if password in text] == []


def test_sasl_protocol_without_credentials_is_a_clear_error(deployments):
    dep = deployments(FRESHREC_KAFKA_SECURITY_PROTOCOL="SASL_SSL")
    run = subprocess.run([sys.executable, "-m", "freshrec", "worker"], cwd=REPO, env=dep.env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "FRESHREC_KAFKA_SASL_USERNAME" in run.stderr
