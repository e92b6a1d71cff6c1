"""Cold fit and warm start are one training loop (DeepRecommender.fit_from): same inputs, same model."""

from __future__ import annotations

import torch

from models.deep.data import ItemVocab
from models.deep.warmstart import seed_network, warm_fit

from .conftest import cycle_sessions, tiny_model


def _same(a, b) -> None:
    assert a.vocab.items == b.vocab.items and a.popular == b.popular
    assert [r.as_dict() | {"seconds": 0} for r in a.history] == [r.as_dict() | {"seconds": 0} for r in b.history]
    for (name, x), (_, y) in zip(a.net.state_dict().items(), b.net.state_dict().items()):
        torch.testing.assert_close(x, y, msg=name)


def test_fit_is_fit_from_with_a_vocabulary_of_the_sessions():
    sessions = cycle_sessions(120)
    cold, explicit = tiny_model(epochs=2), tiny_model(epochs=2)
    cold.fit(sessions)
    explicit.fit_from(sessions, ItemVocab.from_sessions(sessions))
    _same(cold, explicit)


def test_a_warm_start_is_fit_from_seeded_with_the_previous_version(tmp_path):
    # the previous version knows items i0..i11 only, so the warm start grows the vocabulary
    old_sessions = [s for s in cycle_sessions(300, seed=1) if all(int(i[1:]) < 12 for i in s)]
    previous = tiny_model(epochs=2)
    previous.fit(old_sessions)
    version = previous.save(tmp_path)
    sessions = cycle_sessions(120, seed=2)

    warm = tiny_model(epochs=2)
    how = warm_fit(warm, sessions, version)
    assert how.startswith("warm start") and warm.train_info["new_items"] == 8

    by_hand = tiny_model(epochs=2)
    vocab = ItemVocab(previous.vocab.items)
    vocab.extend(i for s in sessions for i in s)
    by_hand.fit_from(sessions, vocab, init=lambda net: seed_network(net, previous.net.state_dict()))
    _same(warm, by_hand)
