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
"""

from __future__ import annotations

import hashlib
import json
import time
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
