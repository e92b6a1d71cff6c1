"""The start-up check of the libraries whose internals Freshrec patches."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest

from freshrec.versions import PATCHED, SERVING, WORKER, UnsupportedVersion, check, problems


def test_the_installed_versions_are_within_the_ranges():
    assert problems(WORKER + SERVING) == []


def test_a_version_outside_the_range_is_refused_with_the_fix():
    fake = {"faust-streaming": "0.16.0", "mode-streaming": "0.7.1", "aiokafka": "0.13.9"}.__getitem__
    with pytest.raises(UnsupportedVersion) as exc:
        check(WORKER, installed=fake)
    msg = str(exc.value)
    assert "faust-streaming 0.16.0" in msg and "aiokafka 0.13.9" in msg and "mode-streaming" not in msg
    assert "docs/operations.md" in msg


def test_a_missing_library_is_a_problem_too():
    def missing(dist):
        raise PackageNotFoundError(dist)
    assert len(problems(("uvicorn",), installed=missing)) == 1


def test_pyproject_caps_match_the_ranges():
    text = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    for dist, (low, high) in PATCHED.items():
        name = "redis[hiredis]" if dist == "redis" else dist
        assert f'"{name}>={low},<{high}"' in text, dist
