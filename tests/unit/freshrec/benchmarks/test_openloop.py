"""The C generator's wrapper: URL to arguments, and a missing compiler reported, not raised."""

from __future__ import annotations

import pytest

from freshrec.benchmarks import openloop
from freshrec.settings import Settings


def test_redis_args_carry_the_acl_user_password_and_database():
    args = openloop.redis_args("redis://reader:p%40ss@10.0.0.5:6380/3")
    assert args == ["--host", "10.0.0.5", "--port", "6380", "--user", "reader", "--password", "p@ss", "--db", "3"]
    assert openloop.redis_args("redis://127.0.0.1") == ["--host", "127.0.0.1", "--port", "6379"]


def test_a_tls_url_is_refused_with_a_reason():
    with pytest.raises(ValueError, match="plain redis://"):
        openloop.redis_args("rediss://h:6379/0")


def test_without_a_compiler_the_run_reports_why(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    out = openloop.at_host(Settings(cache_dir=tmp_path), str(tmp_path / "s.sock"), 100, 0.1, 1, 10, 10)
    assert "openloop_error" in out and "no-such-cc" in out["openloop_error"]


def test_the_generator_builds_once_per_source_version(tmp_path):
    settings = Settings(cache_dir=tmp_path)
    exe = openloop.binary(settings)
    assert exe.exists() and exe.parent == tmp_path / "bin"
    assert openloop.binary(settings) == exe  # cached: same path, not rebuilt
