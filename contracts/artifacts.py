"""The deep model's artifact contract: the trainer writes it, the stream loads it. Nothing else does.

Store layout (``store`` is any folder)::

    store/
      CURRENT                      text: the published version id (replaced atomically)
      versions/<version>/
        weights.pt                 torch state_dict of SessionNet (for warm starts and torch scoring)
        model.onnx                 the scoring path exported to ONNX (what the stream runs)
        items.json                 {"items": [item ids; the j-th is output column j, input token j+1], "popular": [...]}
        config.json                {"format", "model", "network": {SessionNet kwargs}, "recommender": {...}}
        metrics.json               {"metric", "validation": {"hr@20", "mrr@20", "cases"}, "history", "train"}
        validation.json            {"sessions": [[item ids]]}: the slice the validation metrics were measured on
        manifest.json              {"format", "version", "created", "files": {name: sha256}, "probe": {...}}

Version id: ``YYYYMMDDTHHMMSSZ-<first 8 hex of the weights' sha256>``; it sorts by creation time and
two trainings in the same second still differ. A version directory is written under a temporary name
and renamed into place, so a reader never sees half an artifact.

A version is readable when every file is present and its checksum matches the manifest
(:func:`check_version_dir`); loading it (:mod:`models.deep.artifact`) then also runs the ONNX model
on the manifest's probe session. Anything wrong raises :class:`ArtifactError` saying what.
Versions written before ``validation.json`` existed still load; they cannot be published over a
current version, since the two could not be compared on the same slice.

Tuning configurations (issue 19) live beside the deep versions, in the same store::

    store/
      tuning/
        CURRENT                    text: the published tuning version id (replaced atomically)
        <version>.json             one configuration (:class:`TuningConfig`), written once, never changed

The trainer re-runs the stream model's selection on the recent event log and publishes a configuration
only when it beats the running one on the validation slice (``rule`` says how); workers apply the one
``CURRENT`` names when it is newer than theirs: ``settings.scoring`` on the users side between windows,
``settings.covis`` where co-visitation is counted (``window`` and ``backward`` where pairs are formed,
``half_life_s`` and ``top_k`` on the items side), for pairs counted from then on. A configuration::

    {"format": 1, "kind": "tuning", "model": "stream", "version": "20261207T213000123Z-1a2b3c4d",
     "created": 1796765400.123, "rule": "...",
     "settings": {"scoring": {"weights": {...}, "repeat_decay": 0.7, "recent": 3, ...},
                  "covis": {"window": 8, "backward": 0.5, "half_life_s": 604800.0, "top_k": 200}},
     "validation": {"chosen": {"hr": 49.9, "mrr": 18.3}, "running": {"hr": 49.1, "mrr": 18.0},
                    "cases": 18000, "running_version": null},
     "data": {"sessions": 100000, "events": 512345, "log_end": 530000, "first_ts": ..., "last_ts": ...,
              "validation_start": 90000, "validation_sessions": 10000, "validation_cases": 41234},
     "search": {"candidates": 27, "rungs": [[27, 2000], ...], "cpu_seconds": 61.2}}

Tuning version id: ``YYYYMMDDTHHMMSSmmmZ-<first 8 hex of the settings' sha256>``, from ``created``
(milliseconds): ids sort by creation time, which is the order workers apply them in
(:func:`tuning_newer`). A file is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = 1
MODEL = "deep"
WEIGHTS, ONNX, ITEMS, CONFIG, METRICS, MANIFEST, VALIDATION = (
    "weights.pt", "model.onnx", "items.json", "config.json", "metrics.json", "manifest.json", "validation.json")
CHECKED = (WEIGHTS, ONNX, ITEMS, CONFIG, METRICS)
WRITTEN = (*CHECKED, VALIDATION)
CURRENT = "CURRENT"
VERSIONS = "versions"
METRIC = "mrr@20"
PROBE_K = 10
PROBE_TOLERANCE = 1e-4


class ArtifactError(ValueError):
    """An artifact is missing, corrupt or inconsistent; the message names the file and the fix."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True))


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: not readable JSON ({exc}); retrain or delete this version") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object")
    return data


def version_id(weights_sha: str, created: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created if created is not None else time.time()))
    return f"{stamp}-{weights_sha[:8]}"


def check_version_dir(path: Path) -> dict:
    """The manifest of a complete, uncorrupted version directory; :class:`ArtifactError` otherwise."""
    if not path.is_dir():
        raise ArtifactError(f"{path} is not an artifact directory (expected {VERSIONS}/<version>/ of a store)")
    missing = [n for n in (*CHECKED, MANIFEST) if not (path / n).is_file()]
    if missing:
        raise ArtifactError(f"{path}: missing {', '.join(missing)}; the artifact is incomplete, retrain it")
    manifest = read_json(path / MANIFEST)
    if manifest.get("format") != FORMAT or manifest.get("model") != MODEL:
        raise ArtifactError(f"{path}: format {manifest.get('format')!r} / model {manifest.get('model')!r}, "
                            f"this code reads format {FORMAT} of model {MODEL!r}")
    listed = manifest.get("files")
    listed = listed if isinstance(listed, dict) else {}
    # validation.json is checked when the manifest lists it: versions written before it still load
    if VALIDATION in listed and not (path / VALIDATION).is_file():
        raise ArtifactError(f"{path}: missing {VALIDATION}; the artifact is incomplete, retrain it")
    for name in (*CHECKED, *(n for n in (VALIDATION,) if n in listed)):
        if listed.get(name) != sha256(path / name):
            raise ArtifactError(f"{path / name}: checksum does not match manifest.json; the file is corrupt")
    return manifest


def current_version(store: str | Path) -> str | None:
    pointer = Path(store) / CURRENT
    try:
        version = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    return version or None


# --- tuning configurations (issue 19) ------------------------------------------------------------
TUNING = "tuning"
TUNING_FORMAT = 1
TUNING_KIND = "tuning"
#: What each block of ``settings`` may hold; a worker applies the keys its recommender has.
TUNING_SCORING = ("weights", "repeat_decay", "recent", "recency_exponent", "norm_exponent", "deep_weight")
TUNING_COVIS = ("window", "backward", "half_life_s", "top_k")
_TUNING_VERSION = re.compile(r"^\d{8}T\d{9}Z-[0-9a-f]{8}$")


class TuningError(ValueError):
    """A tuning configuration is missing, unreadable or malformed; the message names the file."""


@dataclass(frozen=True)
class TuningConfig:
    """One published configuration; :meth:`to_json` / :meth:`from_json` are the file's format."""

    version: str
    created: float                     # epoch seconds (event time when a replay publishes it)
    rule: str                          # how it was chosen and why it was published
    scoring: dict                      # keys of TUNING_SCORING
    covis: dict                        # keys of TUNING_COVIS
    validation: dict                   # {"chosen": {hr, mrr}, "running": {hr, mrr}, "cases", "running_version"}
    data: dict                         # the window of the log it was chosen on
    search: dict = field(default_factory=dict)
    model: str = "stream"

    def to_json(self) -> dict:
        """A fresh object (a copy: changing it never changes this configuration)."""
        return json.loads(json.dumps(
            {"format": TUNING_FORMAT, "kind": TUNING_KIND, "model": self.model, "version": self.version,
             "created": self.created, "rule": self.rule, "settings": {"scoring": self.scoring, "covis": self.covis},
             "validation": self.validation, "data": self.data, "search": self.search}))

    @classmethod
    def from_json(cls, obj: object, where: str = "tuning configuration") -> TuningConfig:
        if not isinstance(obj, dict):
            raise TuningError(f"{where}: expected a JSON object")
        try:
            obj = json.loads(json.dumps(obj))   # a copy, and only what JSON can hold
        except (TypeError, ValueError) as exc:
            raise TuningError(f"{where}: not JSON data ({exc})") from None
        if obj.get("format") != TUNING_FORMAT or obj.get("kind") != TUNING_KIND:
            raise TuningError(f"{where}: format {obj.get('format')!r} / kind {obj.get('kind')!r}, this code reads "
                              f"format {TUNING_FORMAT} of kind {TUNING_KIND!r}")
        version, created = obj.get("version"), obj.get("created")
        if not isinstance(version, str) or not _TUNING_VERSION.match(version):
            raise TuningError(f"{where}: version {version!r} is not YYYYMMDDTHHMMSSmmmZ-<8 hex>")
        if isinstance(created, bool) or not isinstance(created, (int, float)) or not math.isfinite(created):
            raise TuningError(f"{where}: created {created!r} is not a time in epoch seconds")
        settings = obj.get("settings")
        if not isinstance(settings, dict):
            raise TuningError(f"{where}: no settings object")
        blocks = {}
        for name, allowed in (("scoring", TUNING_SCORING), ("covis", TUNING_COVIS)):
            block = settings.get(name, {})
            if not isinstance(block, dict):
                raise TuningError(f"{where}: settings.{name} is not an object")
            unknown = sorted(set(block) - set(allowed))
            if unknown:
                raise TuningError(f"{where}: settings.{name} has unknown keys {unknown}; allowed {list(allowed)}")
            blocks[name] = block
        weights = blocks["scoring"].get("weights", {})
        if not isinstance(weights, dict) or not all(isinstance(w, (int, float)) and w >= 0 for w in weights.values()):
            raise TuningError(f"{where}: settings.scoring.weights must map source names to weights >= 0")
        for name, value in blocks["covis"].items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
                    (name != "backward" and value <= 0):
                raise TuningError(f"{where}: settings.covis.{name} = {value!r} is out of range")
        return cls(version=version, created=float(created), rule=str(obj.get("rule", "")),
                   scoring=blocks["scoring"], covis=blocks["covis"], validation=dict(obj.get("validation") or {}),
                   data=dict(obj.get("data") or {}), search=dict(obj.get("search") or {}),
                   model=str(obj.get("model", "stream")))


def tuning_version(created: float, scoring: dict, covis: dict) -> str:
    """The id of a configuration created at ``created`` (epoch seconds) with these settings."""
    body = json.dumps({"scoring": scoring, "covis": covis}, sort_keys=True).encode()
    ms = int(round(created * 1000))
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(ms // 1000))
    return f"{stamp}{ms % 1000:03d}Z-{hashlib.sha256(body).hexdigest()[:8]}"


def tuning_newer(version: str, than: str | None) -> bool:
    """``version`` was created after ``than`` (None: nothing runs yet). Ids sort by creation time."""
    return than is None or version > than


def tuning_path(store: str | Path, version: str) -> Path:
    return Path(store) / TUNING / f"{version}.json"


def current_tuning(store: str | Path) -> str | None:
    """The published tuning version id, or None when none was ever published."""
    try:
        version = (Path(store) / TUNING / CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    return version or None


def read_tuning(store: str | Path, version: str) -> TuningConfig:
    path = tuning_path(store, version)
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TuningError(f"{path}: not readable JSON ({exc})") from None
    config = TuningConfig.from_json(obj, str(path))
    if config.version != version:
        raise TuningError(f"{path}: holds version {config.version}, not {version}")
    return config


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)   # a reader sees the old file or the new one, never half of one


def write_tuning(store: str | Path, config: TuningConfig) -> Path:
    """Write ``config`` under its version (not published yet: :func:`point_tuning` does that)."""
    TuningConfig.from_json(config.to_json(), f"configuration {config.version}")   # never write what no one reads
    path = tuning_path(store, config.version)
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace(path, json.dumps(config.to_json(), indent=1, sort_keys=True))
    return path


def point_tuning(store: str | Path, version: str) -> None:
    """Make ``version`` (already written) the published one."""
    if not tuning_path(store, version).is_file():
        raise TuningError(f"{tuning_path(store, version)} does not exist; write the configuration first")
    _replace(Path(store) / TUNING / CURRENT, version + "\n")
