"""bench curve waits for a quiet machine before each timed run (figures under load show nothing)."""

from freshrec.benchmarks import curve


def test_settle_waits_until_the_load_falls(monkeypatch):
    loads = iter([2.6, 2.1, 1.4, 1.0])
    monkeypatch.setattr(curve.os, "getloadavg", lambda: (next(loads), 0.0, 0.0))
    monkeypatch.setattr(curve.time, "sleep", lambda s: None)
    assert curve.settle_load(1.5, timeout=60) == (1.4, True)


def test_settle_gives_up_and_says_so(monkeypatch):
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(curve.os, "getloadavg", lambda: (3.0, 0.0, 0.0))
    monkeypatch.setattr(curve.time, "sleep", lambda s: None)
    monkeypatch.setattr(curve.time, "monotonic", lambda: float(next(clock)))
    assert curve.settle_load(1.5, timeout=30) == (3.0, False)
