"""A single-node KRaft Kafka broker assembled from Maven Central jars.

There is no Kafka tarball here: ``mvn dependency:copy-dependencies`` on a small pom copies
``org.apache.kafka:kafka_2.13`` and its runtime closure into ``<cache>/kafka-<version>/libs`` once;
the storage directory is formatted once; then one combined broker+controller runs as a java process.
"""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from freshrec.stack.process import StackError, log_tail, spawn, wait_until

MAIN_CLASS = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


def ensure_jars(cache_dir: Path, version: str) -> Path:
    """Copy the broker's jars from Maven Central into the cache (once per version)."""
    libs = cache_dir / f"kafka-{version}" / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (`mvn`) is needed to fetch Kafka's jars: install it, e.g. `apt-get install maven`")
    if shutil.which("java") is None:
        raise StackError("Java 17 is needed to run Kafka: install it, e.g. `apt-get install openjdk-17-jre-headless`")
    libs.mkdir(parents=True, exist_ok=True)
    pom = libs.parent / "pom.xml"
    pom.write_text(resources.files("freshrec.stack").joinpath("kafka-pom.xml").read_text())
    cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
           f"-Dkafka.version={version}", f"-DoutputDirectory={libs}", "-DincludeScope=runtime"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not any(libs.glob(f"kafka_2.13-{version}.jar")):
        raise StackError(f"fetching Kafka {version} jars with Maven failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    marker.touch()
    return libs


def classpath(libs: Path) -> str:
    return str(libs / "*")


def cluster_id() -> str:
    # Kafka's Uuid text form: url-safe base64 of 16 random bytes, no padding. One in 64 of those
    # starts with "-", which kafka-storage's argument parser takes for an option (Kafka's own
    # Uuid.randomUuid draws again for the same reason).
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def write_config(conf_dir: Path, data_dir: Path, port: int, controller_port: int,
                 extra: dict[str, str] | None = None) -> Path:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "4",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "8",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        # One broker: nobody else will join, so don't delay the first consumer group.
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "log.retention.hours": "168",
        "log.segment.bytes": str(256 * 1024 * 1024),
    }
    props.update(extra or {})
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / "server.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    log4j = conf_dir / "log4j.properties"
    log4j.write_text(resources.files("freshrec.stack").joinpath("log4j.properties").read_text())
    return path


def sasl_listener_config(port: int, controller_port: int, sasl_port: int, users: dict[str, str]) -> dict[str, str]:
    """``extra`` for :func:`write_config`: a second, SASL/PLAIN listener beside the plaintext one.

    For testing clients' SASL settings locally; ``users`` maps user names to passwords. Inter-broker
    and controller traffic stay on the plaintext listeners, so nothing else changes. Kafka prints
    the JAAS line as ``[hidden]`` in its config dump (a PASSWORD-type setting).
    """
    accounts = " ".join(f'user_{u}="{p}"' for u, p in users.items())
    admin_user, admin_password = next(iter(users.items()))
    return {
        "listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port},"
                     f"CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config":
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="{admin_user}" password="{admin_password}" {accounts};',
    }


def quorum_config(node_id: int, nodes: list[tuple[int, int]]) -> dict[str, str]:
    """``extra`` for :func:`write_config`: node ``node_id`` (1-based) of a cluster of combined
    broker+controller nodes, ``nodes`` being each one's (broker port, controller port).

    Every node votes (a quorum of 3 survives one node lost); internal topics and the default for new
    topics are replicated to 3 nodes at most, and a write needs ``min.insync.replicas`` = replicas - 1
    of them, so ``acks=all`` survives one broker and never rests on one copy alone.
    """
    replicas = min(3, len(nodes))
    port, cport = nodes[node_id - 1]
    return {
        "node.id": str(node_id),
        "controller.quorum.voters": ",".join(f"{i}@127.0.0.1:{c}" for i, (_, c) in enumerate(nodes, 1)),
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(max(1, replicas - 1)),
        "default.replication.factor": str(replicas),
        "min.insync.replicas": str(max(1, replicas - 1)),
        # a consumer group's first members may arrive while a broker is still joining
        "group.initial.rebalance.delay.ms": "0",
    }


def format_storage(libs: Path, config: Path, data_dir: Path, cluster: str | None = None) -> None:
    """Format KRaft storage once; a formatted directory keeps its cluster id across restarts.

    The nodes of one cluster must be formatted with the same ``cluster`` id."""
    if (data_dir / "meta.properties").exists():
        return
    cmd = ["java", "-cp", classpath(libs), f"-Dlog4j.configuration=file:{config.parent / 'log4j.properties'}",
           STORAGE_TOOL, "format", "-t", cluster or cluster_id(), "-c", str(config)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StackError(f"formatting Kafka storage in {data_dir} failed:\n{proc.stderr[-2000:]}")


def start(libs: Path, config: Path, log_path: Path, heap: str) -> int:
    args = ["java", f"-Xmx{heap}", f"-Xms{heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", f"-Dlog4j.configuration=file:{config.parent / 'log4j.properties'}",
            "-cp", classpath(libs), MAIN_CLASS, str(config)]
    return spawn(args, log_path).pid


def answers_metadata(bootstrap: str, *, request_timeout_ms: int = 2000, client_id: str = "freshrec-stack-probe",
                     **kafka_config) -> bool:
    """True once the broker answers a metadata request (not merely accepts TCP); ``kafka_config`` are
    further admin-client settings (a secured listener's: the probe authenticates like any client)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if not host or not port.isdigit() or not _accepts_tcp(host, int(port)):
        return False  # the admin client would sit in its own reconnect backoff instead
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms,
                                 client_id=client_id, **kafka_config)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _accepts_tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def brokers_seen(bootstrap: str) -> int:
    """How many unfenced brokers the cluster reports (0 when it does not answer)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    for address in bootstrap.split(","):  # the admin client would log every refused bootstrap address
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit() or not _accepts_tcp(host, int(port)):
            return 0
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000,
                                 client_id="freshrec-stack-probe")
    except (KafkaError, OSError, ValueError):
        return 0
    try:
        return sum(1 for b in admin.describe_cluster().get("brokers", []) if not b.get("is_fenced"))
    except (KafkaError, OSError):
        return 0
    finally:
        admin.close()


def wait_ready(bootstrap: str, log_path: Path, alive, timeout: float = 90.0, brokers: int = 1) -> None:
    """Until the cluster answers metadata requests, listing ``brokers`` brokers."""
    ready = (lambda: answers_metadata(bootstrap)) if brokers == 1 else (lambda: brokers_seen(bootstrap) >= brokers)
    try:
        wait_until(ready, timeout, interval=0.25, what="Kafka", alive=alive)
    except StackError as exc:
        raise StackError(f"{exc}; broker log tail ({log_path}):\n{log_tail(log_path)}") from None
