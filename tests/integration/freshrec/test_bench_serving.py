"""`freshrec bench lookup` and `freshrec bench api` end to end on the real Redis: the process under
test apart from the load generator, and each figure next to its bound from the same run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

SMALL = ["--seconds", "0.5", "--rate", "200", "--users", "300", "--items", "40", "--json"]


def _bench(name: str, *extra: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "freshrec", "bench", name, *SMALL, *extra],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_lookup_runs_the_client_in_its_own_process_against_one_hget_and_redis_benchmark():
    out = _bench("lookup", "--concurrency", "4")
    assert out["errors"] == 0 and out["requests"] == 100
    assert out["client_cpu_ms_per_request"] > 0 and out["generator_cpu_ms_per_request"] > 0
    assert 0 < out["bound_p50_ms"] <= out["bound_p99_ms"] and out["bound_max_rps"] > 0
    assert out["p99_ratio"] == pytest.approx(out["p99_ms"] / out["bound_p99_ms"], rel=0.02)
    assert out["redis_benchmark_p99_ms"] >= out["redis_benchmark_p50_ms"] > 0, out.get("redis_benchmark_error")
    # the host's own timing of the same lookups: never longer than the generator saw them
    assert 0 < out["host_p50_ms"] <= out["p50_ms"] and 0 < out["bound_host_p99_ms"] <= out["bound_p99_ms"]
    # the C generator's run: the same schedule against the client and against Redis itself
    assert out["openloop_errors"] == 0 and out["redis_errors"] == 0, out.get("openloop_error")
    assert 0 < out["redis_p50_ms"] <= out["redis_p99_ms"] and 0 < out["openloop_p50_ms"] <= out["openloop_p99_ms"]
    assert out["openloop_p99_ratio"] == pytest.approx(out["openloop_p99_ms"] / out["redis_p99_ms"], rel=0.02)
    assert 0 < out["openloop_host_p50_ms"] <= out["openloop_p50_ms"]


def test_api_measures_freshrec_serve_and_a_bare_app_under_the_same_server():
    out = _bench("api", "--connections", "4")
    assert out["errors"] == 0 and out["workers"] == 1
    assert out["server_cpu_ms_per_request"] > 0
    assert 0 < out["bound_p50_ms"] <= out["bound_p99_ms"] and out["p99_ratio"] > 0
    assert out["max_rps_per_worker"] == out["max_rps"]
