"""Warm starts: train a new version from the previous one's weights, with a grown vocabulary.

The vocabulary only grows (``ItemVocab.extend`` keeps every old id and token), so the previous embedding
rows are copied unchanged into the first rows of the new table and new items get fresh rows. Every
other parameter has the same shape whenever the architecture matches; when it does not (another
``dim``, ``layers``, ...) the model trains from scratch and the caller is told why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from contracts.artifacts import CONFIG, ITEMS, WEIGHTS
from models.deep.data import ItemVocab
from models.deep.network import SessionNet
from models.deep.recommender import DeepRecommender
from models.deep.training import EpochReport

log = logging.getLogger(__name__)

GROWING = "item_emb.weight"  # the only parameter whose shape depends on the vocabulary


def previous_state(version_dir: Path, model: DeepRecommender) -> tuple[ItemVocab, dict] | str:
    """The previous version's vocabulary and weights, or why they cannot seed ``model``."""
    try:
        config = json.loads((version_dir / CONFIG).read_text())["network"]
        items = json.loads((version_dir / ITEMS).read_text())["items"]
        state = torch.load(version_dir / WEIGHTS, map_location="cpu", weights_only=True)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        return f"previous version unreadable ({exc})"
    wanted = {k: v for k, v in model.network_config().items() if k != "n_items"}
    have = {k: config.get(k) for k in wanted}
    if have != wanted:
        return f"architecture changed ({have} -> {wanted})"
    return ItemVocab(items), state


def seed_network(net: SessionNet, state: dict) -> None:
    """Copy ``state`` into ``net``; the grown embedding table keeps the old rows first."""
    own = net.state_dict()
    for name, value in state.items():
        if name == GROWING:
            own[name][: value.shape[0]] = value
        else:
            own[name] = value
    net.load_state_dict(own)


def warm_fit(model: DeepRecommender, sessions: Sequence[Sequence[str]], previous: Path | None,
             on_batch: Callable[[int, int], None] | None = None,
             on_epoch: Callable[[EpochReport], None] | None = None) -> str:
    """Like ``model.fit`` but seeded from ``previous`` when it fits; returns how it started."""
    seed = previous_state(previous, model) if previous is not None else "no previous version"
    if isinstance(seed, str):
        model.fit(sessions, on_batch=on_batch, on_epoch=on_epoch)
        return f"cold start: {seed}"
    vocab, state = seed
    sessions = [[str(x) for x in s] for s in sessions]
    new_items = sum(vocab.extend(s) for s in sessions)
    model.fit_from(sessions, vocab, init=lambda net: seed_network(net, state), on_batch=on_batch, on_epoch=on_epoch)
    model.train_info.update(new_items=new_items, warm_start=previous.name)
    return f"warm start from {previous.name} (+{new_items} items)"
