"""The library versions our patches of their internals were written for, checked at start-up.

Freshrec replaces or reads a few private members of Faust, mode, aiokafka, redis-py and uvicorn
(each listed in docs/operations.md, "Patched internals", with the module that does it). Such code
breaks silently on an upgrade, so the same ranges are caps in pyproject.toml, and the worker and the
API refuse to start on a version outside them, with an error that says what to do.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

#: distribution -> (lowest, first excluded) release; the patches were checked within.
PATCHED: dict[str, tuple[str, str]] = {
    "faust-streaming": ("0.15.2", "0.16"),
    "mode-streaming": ("0.7.0", "0.8"),
    "aiokafka": ("0.14.0", "0.15"),
    "redis": ("8.0.0", "9"),
    "uvicorn": ("0.54.0", "0.55"),
}

#: which distributions each process patches
WORKER = ("faust-streaming", "mode-streaming", "aiokafka")
SERVING = ("redis", "uvicorn")


class UnsupportedVersion(RuntimeError):
    """An installed library lies outside the range our patches of its internals were checked for."""


def _key(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split("."):
        digits = "".join(ch for ch in part if ch.isdigit()) or "0"
        out.append(int(digits))
        if not part.isdigit():
            break  # 1.2.3rc1: compare the release part only
    return tuple(out)


def problems(dists: tuple[str, ...], installed=version) -> list[str]:
    """One line per distribution of ``dists`` whose installed version is outside its range."""
    out = []
    for dist in dists:
        low, high = PATCHED[dist]
        try:
            have = installed(dist)
        except PackageNotFoundError:
            out.append(f"{dist} is not installed (need >={low},<{high})")
            continue
        if not _key(low) <= _key(have) < _key(high):
            out.append(f"{dist} {have} is installed; Freshrec patches its internals and was checked with "
                       f">={low},<{high}")
    return out


def check(dists: tuple[str, ...], installed=version) -> None:
    """Raise :class:`UnsupportedVersion` naming every distribution out of range, and the fix."""
    found = problems(dists, installed)
    if found:
        raise UnsupportedVersion("; ".join(found) + ". Install the locked versions (`make venv`, or "
                                 "`uv sync --frozen`), or re-check the patches listed in docs/operations.md "
                                 "and widen freshrec/versions.py and pyproject.toml together.")
