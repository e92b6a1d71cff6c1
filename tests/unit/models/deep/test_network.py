"""SessionNet's architecture options: the first design's weights still load, every variant learns and exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.base import Interaction, Session
from models.deep.artifact import load_artifact
from models.deep.network import SessionNet

from .conftest import N_ITEMS, cycle_sessions, tiny_model

# The keys of the first design's state_dict (layers=1): an artifact written before readout / repeat /
# item_dropout existed holds exactly these, so the defaults must build exactly these.
FIRST_DESIGN = {"item_emb.weight", "pos_emb.weight", "norm_in.weight", "norm_in.bias", "norm.weight", "norm.bias",
                "query.weight", "query.bias", "rep_q.weight", "rep_q.bias", "rep_k.weight", "rep_k.bias",
                "gate.weight", "gate.bias",
                *(f"blocks.0.{n}" for n in ("norm1.weight", "norm1.bias", "qkv.weight", "qkv.bias", "proj.weight",
                                            "proj.bias", "norm2.weight", "norm2.bias", "ff.0.weight", "ff.0.bias",
                                            "ff.2.weight", "ff.2.bias"))}

VARIANTS = [dict(readout="mix"), dict(readout="mix", repeat=False, label_smoothing=0.1, item_dropout=0.1),
            dict(readout="last", repeat=False)]


def session(*items: str) -> Session:
    return Session("u", [Interaction(i) for i in items])


def test_defaults_are_the_first_design():
    assert set(SessionNet(10, dim=8, layers=1).state_dict()) == FIRST_DESIGN


def test_unknown_readout_is_refused():
    with pytest.raises(ValueError, match="readout"):
        SessionNet(10, readout="mean")


@pytest.mark.parametrize("params", VARIANTS)
def test_every_variant_learns_a_deterministic_next_item(params):
    model = tiny_model(**params)
    model.fit(cycle_sessions(400))
    assert model.validation["hr@20"] == 100.0
    assert model.validation["mrr@20"] >= 90.0


def test_core_readout_cannot_express_a_shift_but_mix_can():
    # The item-space readout scores items by their likeness to the session's own items: "the item after
    # this one" on a cycle needs the last-state part, which "mix" adds (hence the mix readout).
    core = tiny_model(readout="core")
    core.fit(cycle_sessions(400))
    assert core.validation["mrr@20"] < 60.0


def test_label_smoothing_raises_the_loss_of_a_confident_model():
    torch.manual_seed(0)
    net = SessionNet(N_ITEMS, dim=8, layers=1, readout="core", repeat=False, dropout=0.0)
    batch = torch.tensor([[1, 2, 3, 0], [4, 5, 6, 7]])
    plain = net.loss(batch)
    smooth = net.loss(batch, label_smoothing=0.5)
    assert torch.isfinite(smooth) and not torch.isclose(plain, smooth)


@pytest.mark.parametrize("params", [*VARIANTS[:2], dict(readout="core")])
def test_variants_export_to_onnx_and_score_like_torch(params, tmp_path):
    model = tiny_model(epochs=1, **params)
    model.fit(cycle_sessions(200))
    art = load_artifact(model.save(tmp_path / "store"))
    assert {k: art.config["network"][k] for k in ("readout", "repeat")} == {
        "readout": params["readout"], "repeat": params.get("repeat", True)}
    lists = [["i1", "i2", "i3"], ["i7"], ["i4", "i5", "i4", "i9", "i10", "i11", "i12", "i13", "i14", "i15"]]
    probs, _ = art.scorer.probs_many(lists)
    np.testing.assert_allclose(probs, model.torch_probs(lists), atol=1e-5)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-4)
