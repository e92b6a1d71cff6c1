"""The deep model's artifact contract: the trainer writes it, the stream loads it. Nothing else does.

Store layout (``store`` is any folder)::

    store/
      CURRENT                      text: the published version id (replaced atomically)
      versions/<version>/
        weights.pt                 torch state_dict of SessionNet (for warm starts and torch scoring)
        model.onnx                 the scoring path exported to ONNX (what the stream runs)
        items.json                 {"items": [item ids, index 1..n in order], "popular": [fallback items]}
        config.json                {"format", "model", "network": {SessionNet kwargs}, "recommender": {...}}
        metrics.json               {"metric", "validation": {"hr@20", "mrr@20", "cases"}, "history", "train"}
        validation.json            {"sessions": [[item ids]]}: the slice the validation metrics were measured on
        manifest.json              {"format", "version", "created", "files": {name: sha256}, "probe": {...}}

Version id: ``YYYYMMDDTHHMMSSZ-<first 8 hex of the weights' sha256>``; it sorts by creation time and
two trainings in the same second still differ. A version directory is written under a temporary name
and renamed into place, so a reader never sees half an artifact.

Loading validates: every file present, checksums match, the ONNX model loads in onnxruntime and
reproduces the probe (a fixed session scored at training time, its top items and probabilities
stored in the manifest). Anything else raises :class:`ArtifactError` saying what is wrong.

Publishing makes a version current only when it loads and its validation metric (``mrr@20``) is not
worse than the current version's, both scored by onnxruntime on the *new* version's validation slice
(:mod:`models.deep.validation`): each version's recorded metric was measured on the newest sessions of
its own training log, so the two recorded numbers are not comparable. Otherwise the current version stays.
Versions written before ``validation.json`` existed still load (the worker can run them); they cannot be
published over a current version.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.deep.data import ItemVocab
from models.deep.scoring import OnnxScorer, export_onnx, top_k
from models.deep.validation import slice_metrics

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


@dataclass
class Artifact:
    """A loaded, validated version: its scorer plus what the trainer recorded."""

    path: Path
    version: str
    config: dict
    metrics: dict
    scorer: OnnxScorer

    @property
    def metric(self) -> float:
        return float(self.metrics["validation"][METRIC])

    def validation_sessions(self) -> list[list[str]]:
        """The slice :attr:`metric` was measured on (read on demand: the worker never needs it)."""
        if not (self.path / VALIDATION).is_file():
            raise ArtifactError(f"{self.path}: no {VALIDATION} (written by an older trainer), so it cannot be "
                                "compared with the current version on the same slice; retrain it")
        try:
            return [[str(i) for i in s] for s in _read_json(self.path / VALIDATION)["sessions"]]
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"{self.path / VALIDATION}: expected {{'sessions': [[item ids]]}} ({exc!r})") from None


@dataclass(frozen=True)
class PublishResult:
    published: bool
    version: str
    current: str | None
    reason: str


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True))


def version_id(weights_sha: str, created: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(created if created is not None else time.time()))
    return f"{stamp}-{weights_sha[:8]}"


def probe_session(vocab: ItemVocab) -> list[str]:
    """A fixed, deterministic session of known items (with a repeat, so both heads take part)."""
    items = vocab.items[: min(3, len(vocab))]
    return [items[0], *items[1:], items[0]]


def write_artifact(store: str | Path, net, vocab: ItemVocab, popular: list[str], config: dict,
                   metrics: dict, *, validation: Sequence[Sequence[str]]) -> Path:
    """Write a new version directory (not yet current) and return its path; ``validation`` is the slice
    of sessions ``metrics["validation"]`` was measured on."""
    import torch

    store = Path(store)
    versions = store / VERSIONS
    versions.mkdir(parents=True, exist_ok=True)
    tmp = versions / f".tmp-{os.getpid()}-{time.time_ns()}"
    tmp.mkdir()
    try:
        torch.save(net.state_dict(), tmp / WEIGHTS)
        onnx_bytes = export_onnx(net)
        (tmp / ONNX).write_bytes(onnx_bytes)
        _write_json(tmp / ITEMS, {"items": vocab.items, "popular": list(popular)})
        _write_json(tmp / CONFIG, {"format": FORMAT, "model": MODEL, **config})
        _write_json(tmp / METRICS, metrics)
        _write_json(tmp / VALIDATION, {"sessions": [list(s) for s in validation]})
        scorer = OnnxScorer(onnx_bytes, vocab, popular, int(config["network"]["max_len"]))
        probe = probe_session(vocab)
        probs, _ = scorer.probs_many([probe])
        idx, vals = top_k(probs, PROBE_K)
        files = {name: _sha256(tmp / name) for name in WRITTEN}
        version = version_id(files[WEIGHTS])
        _write_json(tmp / MANIFEST, {
            "format": FORMAT, "model": MODEL, "version": version,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files,
            "probe": {"session": probe, "top": [vocab.items[c] for c in idx[0]], "probs": vals[0].tolist()},
        })
        final = versions / version
        if final.exists():
            raise ArtifactError(f"version {version} already exists in {versions}")
        tmp.rename(final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: not readable JSON ({exc}); retrain or delete this version") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: expected a JSON object")
    return data


def load_artifact(path: str | Path, threads: int = 1) -> Artifact:
    """Load and validate one version directory; raises :class:`ArtifactError` if anything is off."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path} is not an artifact directory (expected {VERSIONS}/<version>/ of a store)")
    missing = [n for n in (*CHECKED, MANIFEST) if not (path / n).is_file()]
    if missing:
        raise ArtifactError(f"{path}: missing {', '.join(missing)}; the artifact is incomplete, retrain it")
    manifest = _read_json(path / MANIFEST)
    if manifest.get("format") != FORMAT or manifest.get("model") != MODEL:
        raise ArtifactError(f"{path}: format {manifest.get('format')!r} / model {manifest.get('model')!r}, "
                            f"this code reads format {FORMAT} of model {MODEL!r}")
    listed = manifest.get("files")
    listed = listed if isinstance(listed, dict) else {}
    # validation.json is checked when the manifest lists it: versions written before it still load
    if VALIDATION in listed and not (path / VALIDATION).is_file():
        raise ArtifactError(f"{path}: missing {VALIDATION}; the artifact is incomplete, retrain it")
    for name in (*CHECKED, *(n for n in (VALIDATION,) if n in listed)):
        if listed.get(name) != _sha256(path / name):
            raise ArtifactError(f"{path / name}: checksum does not match manifest.json; the file is corrupt")
    config, metrics, items = _read_json(path / CONFIG), _read_json(path / METRICS), _read_json(path / ITEMS)
    try:
        metric = float(metrics["validation"][METRIC])
        max_len = int(config["network"]["max_len"])
        vocab = ItemVocab(items["items"])
        popular = list(items["popular"])
        probe = manifest["probe"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{path}: sidecar field missing or mistyped ({exc!r})") from None
    if not np.isfinite(metric):
        raise ArtifactError(f"{path / METRICS}: validation {METRIC} is not a number")
    try:
        scorer = OnnxScorer((path / ONNX).read_bytes(), vocab, popular, max_len, manifest["version"], threads)
        probs, _ = scorer.probs_many([probe["session"]])
    except Exception as exc:  # onnxruntime raises its own exception types for bad models and shapes
        raise ArtifactError(f"{path / ONNX}: onnxruntime cannot load or run it ({exc})") from None
    if probs.shape != (1, len(vocab)) or not np.all(np.isfinite(probs)):
        raise ArtifactError(f"{path / ONNX}: probe scores have shape {probs.shape}, expected (1, {len(vocab)})")
    idx, vals = top_k(probs, PROBE_K)
    if not np.allclose(vals[0], probe["probs"], atol=PROBE_TOLERANCE):
        raise ArtifactError(f"{path / ONNX}: probe session scores differ from those recorded at training time")
    return Artifact(path, manifest["version"], config, metrics, scorer)


def current_version(store: str | Path) -> str | None:
    pointer = Path(store) / CURRENT
    try:
        version = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    return version or None


def load_current(store: str | Path, threads: int = 1) -> OnnxScorer:
    """The published version's scorer (with ``.version``), for the worker to call on its timer."""
    version = current_version(store)
    if version is None:
        raise ArtifactError(f"{store} has no published version ({CURRENT} missing); run `freshrec train`")
    return load_artifact(Path(store) / VERSIONS / version, threads).scorer


def publish(store: str | Path, version_dir: str | Path) -> PublishResult:
    """Make ``version_dir`` current if it validates and its metric is not worse than the current one's."""
    store = Path(store)
    candidate = load_artifact(version_dir)
    if candidate.path.parent.resolve() != (store / VERSIONS).resolve():
        raise ArtifactError(f"{candidate.path} is not inside {store / VERSIONS}; publish versions of this store")
    current = current_version(store)
    if current is not None and current != candidate.version:
        try:
            incumbent = load_artifact(store / VERSIONS / current)
        except ArtifactError as exc:
            reason = f"current version {current} does not load ({exc}); replaced"
        else:
            sessions = candidate.validation_sessions()
            mine, theirs = slice_metrics(candidate.scorer, sessions), slice_metrics(incumbent.scorer, sessions)
            where = f"on {candidate.version}'s validation slice ({mine['cases']} cases)"
            if mine[METRIC] < theirs[METRIC]:
                return PublishResult(False, candidate.version, current,
                                     f"validation {METRIC} {mine[METRIC]:.3f} is worse than current {current}'s "
                                     f"{theirs[METRIC]:.3f} {where}")
            reason = f"validation {METRIC} {mine[METRIC]:.3f} >= current {current}'s {theirs[METRIC]:.3f} {where}"
    else:
        reason = "no current version" if current is None else "already current"
    tmp = store / f".{CURRENT}.{os.getpid()}.tmp"
    tmp.write_text(candidate.version + "\n")
    os.replace(tmp, store / CURRENT)
    return PublishResult(True, candidate.version, candidate.version, reason)
