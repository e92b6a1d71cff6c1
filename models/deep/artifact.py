"""Writing, loading and publishing versions of the deep model's artifact (:mod:`contracts.artifacts`).

Loading validates the contract's files and checksums, then that the ONNX model loads in onnxruntime and
reproduces the probe (a fixed session scored at training time, its top items and probabilities stored in
the manifest). Anything else raises :class:`~contracts.artifacts.ArtifactError` saying what is wrong.

Publishing makes a version current only when it loads and its validation metric (``mrr@20``) is not
worse than the current version's, both scored by onnxruntime on the *new* version's validation slice
(:mod:`models.deep.validation`): each version's recorded metric was measured on the newest sessions of
its own training log, so the two recorded numbers are not comparable. Otherwise the current version stays.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from contracts.artifacts import (CONFIG, CURRENT, FORMAT, ITEMS, MANIFEST, METRIC, METRICS, MODEL, ONNX,
                                 PROBE_K, PROBE_TOLERANCE, VALIDATION, VERSIONS, WEIGHTS, WRITTEN, ArtifactError,
                                 check_version_dir, current_version, read_json, sha256, version_id, write_json)
from models.deep.data import ItemVocab
from models.deep.scoring import OnnxScorer, export_onnx, top_k
from models.deep.validation import slice_metrics


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
            return [[str(i) for i in s] for s in read_json(self.path / VALIDATION)["sessions"]]
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"{self.path / VALIDATION}: expected {{'sessions': [[item ids]]}} ({exc!r})") from None


@dataclass(frozen=True)
class PublishResult:
    published: bool
    version: str
    current: str | None
    reason: str


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
        write_json(tmp / ITEMS, {"items": vocab.items, "popular": list(popular)})
        write_json(tmp / CONFIG, {"format": FORMAT, "model": MODEL, **config})
        write_json(tmp / METRICS, metrics)
        write_json(tmp / VALIDATION, {"sessions": [list(s) for s in validation]})
        scorer = OnnxScorer(onnx_bytes, vocab, popular, int(config["network"]["max_len"]))
        probe = probe_session(vocab)
        probs, _ = scorer.probs_many([probe])
        idx, vals = top_k(probs, PROBE_K)
        files = {name: sha256(tmp / name) for name in WRITTEN}
        version = version_id(files[WEIGHTS])
        write_json(tmp / MANIFEST, {
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


def load_artifact(path: str | Path, threads: int = 1) -> Artifact:
    """Load and validate one version directory; raises :class:`ArtifactError` if anything is off."""
    path = Path(path)
    manifest = check_version_dir(path)
    config, metrics, items = read_json(path / CONFIG), read_json(path / METRICS), read_json(path / ITEMS)
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
