from __future__ import annotations

import copy
import json
import random
import re

import numpy as np
import pytest
import torch

import contracts.artifacts as artifact
from contracts.artifacts import ArtifactError, current_version
from models.base import Interaction, Session
from models.deep.artifact import load_artifact, load_current, publish
from models.deep.recommender import DeepRecommender
from models.deep.validation import slice_metrics

from .conftest import N_ITEMS, cycle_sessions, tiny_model


def perturbed(model: DeepRecommender, by: float) -> DeepRecommender:
    twin = copy.deepcopy(model)
    with torch.no_grad():
        for p in twin.net.parameters():
            p.add_(by)
    return twin


def barely_trained() -> DeepRecommender:
    model = tiny_model(epochs=1, lr=1e-6, seed=3)
    model.fit(cycle_sessions(400))
    return model


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"


def test_round_trip_scores_like_torch(trained, store):
    path = trained.save(store)
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{8}", path.name)
    art = load_artifact(path)
    assert art.version == path.name
    assert art.metric == pytest.approx(trained.validation["mrr@20"])
    lists = [["i1", "i2", "i3"], ["i7"], ["i4", "i5", "i4", "i9", "i10", "i11", "i12", "i13", "i14", "i15"]]
    onnx_probs, nonempty = art.scorer.probs_many(lists)
    assert nonempty.all()
    np.testing.assert_allclose(onnx_probs, trained.torch_probs(lists), atol=1e-5)
    loaded = DeepRecommender.from_artifact(path)
    sessions = [Session("u", [Interaction(i) for i in s]) for s in lists]
    assert ([[c.item for c in r] for r in loaded.recommend_many(sessions, 5)]
            == [[c.item for c in r] for r in trained.recommend_many(sessions, 5)])
    assert loaded.version == path.name and loaded.dim == trained.dim


def test_sidecars_carry_config_and_validation_metrics(trained, store):
    path = trained.save(store)
    config = json.loads((path / artifact.CONFIG).read_text())
    metrics = json.loads((path / artifact.METRICS).read_text())
    assert config["network"]["n_items"] == len(trained.vocab) and config["recommender"]["dim"] == 16
    assert set(metrics["validation"]) >= {"hr@20", "mrr@20", "cases"} and metrics["history"]
    assert json.loads((path / artifact.ITEMS).read_text())["items"] == trained.vocab.items


@pytest.mark.parametrize("damage", ["flip_onnx_byte", "delete_items", "garbage_onnx_resigned", "bad_manifest"])
def test_corrupt_artifact_is_rejected(trained, store, damage):
    path = trained.save(store)
    if damage == "flip_onnx_byte":
        data = bytearray((path / artifact.ONNX).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (path / artifact.ONNX).write_bytes(bytes(data))
        match = "checksum"
    elif damage == "delete_items":
        (path / artifact.ITEMS).unlink()
        match = "missing items.json"
    elif damage == "garbage_onnx_resigned":
        # Checksums made consistent again: onnxruntime itself must refuse the file.
        (path / artifact.ONNX).write_bytes(b"not an onnx model")
        manifest = json.loads((path / artifact.MANIFEST).read_text())
        manifest["files"][artifact.ONNX] = artifact.sha256(path / artifact.ONNX)
        (path / artifact.MANIFEST).write_text(json.dumps(manifest))
        match = "onnxruntime"
    else:
        (path / artifact.MANIFEST).write_text("{truncated")
        match = "not readable JSON"
    with pytest.raises(ArtifactError, match=match):
        load_artifact(path)
    with pytest.raises(ArtifactError):
        publish(store, path)
    assert current_version(store) is None


def test_publish_refuses_a_worse_version_and_keeps_the_current(trained, store):
    first = publish(store, trained.save(store))
    assert first.published and current_version(store) == first.version
    assert load_current(store).version == first.version

    # barely trained: worse than `trained` on any slice of the cycle, whatever number it recorded
    worse = barely_trained()
    worse.validation = {**worse.validation, "mrr@20": 100.0}  # as if measured on an easier slice
    result = publish(store, worse.save(store))
    assert not result.published and "worse" in result.reason, result.reason
    assert current_version(store) == first.version

    equal = perturbed(trained, 2e-3)  # same scores on the slice, other weights -> another version id
    ok = publish(store, equal.save(store))
    assert ok.published, ok.reason  # not worse is enough
    assert load_current(store).version == ok.version != first.version


def test_publish_compares_both_versions_on_the_new_versions_slice(store):
    # The current version recorded a higher number than the candidate did, but on another slice: on the
    # candidate's slice (half of it unpredictable noise) the candidate is far better and is published.
    weak = barely_trained()
    weak.validation = {**weak.validation, "mrr@20": 100.0}  # as if measured on an easy slice
    first = publish(store, weak.save(store))
    assert first.published
    rng = random.Random(5)
    noise = [[f"i{rng.randrange(N_ITEMS)}" for _ in range(4)] for _ in range(20)]
    candidate = tiny_model(validation_fraction=0.1)
    candidate.fit(cycle_sessions(360) + [s for pair in zip(cycle_sessions(20, seed=9), noise) for s in pair])
    assert candidate.validation["mrr@20"] < 90.0  # the noise: lower than the current version's record
    result = publish(store, candidate.save(store))
    assert result.published, result.reason
    assert current_version(store) == result.version
    on_slice = slice_metrics(load_artifact(store / "versions" / result.version).scorer,
                             candidate.validation_sessions)
    assert on_slice["mrr@20"] == pytest.approx(candidate.validation["mrr@20"], abs=1e-3)
    assert on_slice["cases"] == candidate.validation["cases"]


def test_a_version_without_its_validation_slice_is_not_published_over_another(trained, store):
    publish(store, trained.save(store))
    older = perturbed(trained, 2e-3).save(store)
    (older / artifact.VALIDATION).unlink()
    manifest = json.loads((older / artifact.MANIFEST).read_text())
    del manifest["files"][artifact.VALIDATION]  # as written before validation.json existed
    (older / artifact.MANIFEST).write_text(json.dumps(manifest))
    assert load_artifact(older).version == older.name  # still loads: a worker can run it
    with pytest.raises(ArtifactError, match="validation.json"):
        publish(store, older)


def test_load_current_without_a_published_version(store):
    with pytest.raises(ArtifactError, match="no published version"):
        load_current(store)
