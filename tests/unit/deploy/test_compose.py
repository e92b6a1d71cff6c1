"""docker-compose.yml cannot run here (no Docker engine), so check what can be checked statically."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
import yaml

from freshrec.cli import app
from freshrec.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def _freshrec_services():
    return {name: svc for name, svc in SERVICES.items()
            if isinstance(svc.get("command"), list) and svc["command"][:1] == ["freshrec"]}


def test_app_services_are_present():
    assert {"kafka", "redis", "worker", "trainer", "shop", "api"} <= set(SERVICES)
    assert set(_freshrec_services()) >= {"worker", "trainer", "shop", "api"}


@pytest.mark.parametrize("name", sorted(_freshrec_services()))
def test_every_command_is_a_real_freshrec_subcommand(name):
    args = SERVICES[name]["command"][1:]
    group = typer.main.get_command(app)
    ctx = group.make_context("freshrec", list(args), resilient_parsing=True)
    cmd = group
    rest = list(args)
    # typer ships its own click: recognise groups by behaviour, not by click's classes
    while _is_group(cmd) and rest and not rest[0].startswith("-"):
        sub = cmd.get_command(ctx, rest[0])
        assert sub is not None, f"service {name}: `freshrec {' '.join(args)}`: no sub-command {rest[0]!r}"
        cmd, rest = sub, rest[1:]
    assert not _is_group(cmd), f"service {name}: `{' '.join(args)}` names a group, not a command"
    # parse the options for real: an unknown or ill-typed flag fails here as it would in the container
    cmd.make_context(cmd.name, rest)


def _is_group(cmd) -> bool:
    return hasattr(cmd, "list_commands")


def test_images_are_pinned_and_official():
    for name, svc in SERVICES.items():
        image = svc.get("image")
        if image is None:
            assert "build" in svc, f"{name} has neither image nor build"
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d", tag), f"{name}: image {image!r} is not pinned"
    assert re.fullmatch(r"apache/kafka:3\.9\.\d+", SERVICES["kafka"]["image"])
    assert re.fullmatch(r"redis:\d+\.\d+\.\d+", SERVICES["redis"]["image"])


def test_host_ports_do_not_clash_and_workers_can_scale():
    host_ports = []
    for svc in SERVICES.values():
        for mapping in svc.get("ports", []):
            host_ports.append(str(mapping).split(":")[0])
    assert len(host_ports) == len(set(host_ports))
    worker = SERVICES["worker"]
    assert "ports" not in worker and "container_name" not in worker  # `--scale worker=N` needs both absent


def test_infrastructure_has_healthchecks_and_volumes():
    for name in ("kafka", "redis"):
        assert "healthcheck" in SERVICES[name], name
        assert SERVICES[name].get("volumes"), name
    for name in _freshrec_services():
        deps = SERVICES[name].get("depends_on", {})
        assert deps.get("kafka", {}).get("condition") == "service_healthy", name


def test_environment_names_are_real_settings():
    fields = {f"FRESHREC_{f.upper()}" for f in Settings.model_fields}
    for name, svc in SERVICES.items():
        for var in (svc.get("environment") or {}):
            if var.startswith("FRESHREC_"):
                assert var in fields, f"{name}: {var} is not a Settings field"


def test_prometheus_config_scrapes_api():
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"] for job in prom["scrape_configs"]}
    assert {"freshrec-api", "freshrec-worker"} <= jobs
