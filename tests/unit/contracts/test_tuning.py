"""The tuning configuration contract (contracts/artifacts.py): round trip, version order, refusals."""

from __future__ import annotations

import json

import pytest

from contracts.artifacts import TuningConfig, TuningError, current_tuning, point_tuning, read_tuning, \
    tuning_newer, tuning_path, tuning_version, write_tuning

SCORING = {"weights": {"covisit": 1.0, "repeat": 0.9, "trending": 0.01}, "repeat_decay": 0.55, "recent": 3,
           "recency_exponent": 1.0, "norm_exponent": 0.75}
COVIS = {"window": 5, "backward": 0.25, "half_life_s": 3600.0, "top_k": 100}


def config(created: float = 1_796_765_400.123, **kw) -> TuningConfig:
    scoring, covis = kw.pop("scoring", SCORING), kw.pop("covis", COVIS)
    return TuningConfig(version=tuning_version(created, scoring, covis), created=created, rule="test rule",
                        scoring=scoring, covis=covis,
                        validation={"chosen": {"hr": 50.0, "mrr": 18.0}, "running": {"hr": 49.0, "mrr": 17.5},
                                    "cases": 1000, "running_version": None},
                        data={"sessions": 10, "events": 40, "log_end": 40, "first_ts": 0, "last_ts": 1,
                              "validation_start": 9, "validation_sessions": 1, "validation_cases": 3}, **kw)


def test_a_configuration_round_trips_through_its_file(tmp_path):
    c = config()
    path = write_tuning(tmp_path, c)
    assert path == tuning_path(tmp_path, c.version) and path.parent.name == "tuning"
    assert read_tuning(tmp_path, c.version) == c
    assert TuningConfig.from_json(json.loads(json.dumps(c.to_json()))) == c
    assert current_tuning(tmp_path) is None   # written is not published
    point_tuning(tmp_path, c.version)
    assert current_tuning(tmp_path) == c.version
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]   # no temporary file left


def test_version_ids_sort_by_creation_time_to_the_millisecond():
    earlier, later = tuning_version(1000.001, SCORING, COVIS), tuning_version(1000.002, SCORING, COVIS)
    other = tuning_version(1000.001, SCORING, {**COVIS, "window": 8})
    assert earlier < later and tuning_newer(later, earlier) and not tuning_newer(earlier, later)
    assert tuning_newer(earlier, None)
    assert earlier != other and earlier[:-8] == other[:-8]   # same millisecond, different settings
    assert tuning_version(1000.001, SCORING, COVIS) == earlier   # a pure function of time and settings
    # Across a day, a year and the seconds digits: lexicographic order is time order.
    times = [86_399.999, 86_400.0, 31_536_000.5, 1_796_765_400.123, 1_796_765_401.0]
    ids = [tuning_version(t, SCORING, COVIS) for t in times]
    assert ids == sorted(ids)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format=2), "format"),
    (lambda d: d.update(version="v1"), "version"),
    (lambda d: d.update(created="yesterday"), "created"),
    (lambda d: d["settings"]["scoring"].update(learning_rate=0.1), "unknown keys"),
    (lambda d: d["settings"]["covis"].update(window=0), "window"),
    (lambda d: d["settings"]["covis"].update(half_life_s=-1.0), "half_life_s"),
    (lambda d: d["settings"]["scoring"].update(weights={"repeat": -1}), "weights"),
    (lambda d: d.pop("settings"), "settings"),
])
def test_malformed_configurations_are_refused_with_the_field_named(change, message):
    raw = config().to_json()
    change(raw)
    with pytest.raises(TuningError, match=message):
        TuningConfig.from_json(raw)


def test_a_file_holding_another_version_or_no_json_is_refused(tmp_path):
    c = config()
    write_tuning(tmp_path, c)
    renamed = tuning_path(tmp_path, tuning_version(2000.0, SCORING, COVIS))
    renamed.write_text(tuning_path(tmp_path, c.version).read_text())
    with pytest.raises(TuningError, match="holds version"):
        read_tuning(tmp_path, renamed.stem)
    renamed.write_text("{not json")
    with pytest.raises(TuningError, match="not readable JSON"):
        read_tuning(tmp_path, renamed.stem)


def test_only_a_written_configuration_can_be_published(tmp_path):
    with pytest.raises(TuningError, match="does not exist"):
        point_tuning(tmp_path, config().version)
    with pytest.raises(TuningError):   # never write what no reader accepts
        write_tuning(tmp_path, config(covis={**COVIS, "top_k": 0}))
