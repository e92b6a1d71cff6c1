"""Warm starts: train a new version from the previous one's weights, with a grown vocabulary.

The vocabulary only grows (``ItemVocab.extend`` keeps every old index), so the previous embedding
rows are copied unchanged into the first rows of the new table and new items get fresh rows. Every
other parameter has the same shape whenever the architecture matches; when it does not (another
``dim``, ``layers``, ...) the model trains from scratch and the caller is told why.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from contracts.artifacts import CONFIG, ITEMS, WEIGHTS
from models.deep.data import ItemVocab, chunk_sessions, prefix_cases, split_validation
from models.deep.network import SessionNet
from models.deep.recommender import DeepRecommender
from models.deep.training import EpochReport, train

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
    old_vocab, state = seed
    torch.set_num_threads(model.threads)
    start = time.perf_counter()
    sessions = [[str(x) for x in s] for s in sessions]
    fit_part, val_part = split_validation(sessions, model.validation_fraction)
    vocab = old_vocab
    new_items = sum(vocab.extend(s) for s in sessions)
    counts = Counter(i for s in sessions for i in s)
    model.vocab = vocab
    model.popular = [i for i, _ in counts.most_common(model.n_popular)]
    seqs = chunk_sessions((vocab.encode(s) for s in fit_part), model.max_len)
    val_cases = prefix_cases([vocab.encode(s) for s in val_part])
    if not seqs:
        raise ValueError("no session with 2+ items in the new events; nothing to learn from")
    freq = np.zeros(len(vocab))
    for s in seqs:
        np.add.at(freq, np.asarray(s[1:]) - 1, 1.0)
    sampler = torch.tensor((freq + 1.0) ** model.sampler_power, dtype=torch.float32)
    model.net = SessionNet(**model.network_config())
    seed_network(model.net, state)
    model.history = train(model.net, seqs, val_cases, epochs=model.epochs, batch_size=model.batch_size,
                          lr=model.lr, dense_lr_ratio=model.dense_lr_ratio, seed=model.seed,
                          patience=model.patience, negatives=model.negatives, sampler=sampler / sampler.sum(),
                          on_batch=on_batch, on_epoch=on_epoch)
    best = max(model.history, key=lambda r: r.val_mrr) if val_cases else model.history[-1]
    model.validation = {"hr@20": best.val_hr, "mrr@20": best.val_mrr, "cases": len(val_cases), "epoch": best.epoch}
    model.validation_sessions = val_part
    model.train_info = {"seconds": time.perf_counter() - start, "epochs_run": len(model.history),
                        "sessions": len(fit_part), "validation_sessions": len(val_part), "sequences": len(seqs),
                        "items": len(vocab), "new_items": new_items, "warm_start": previous.name}
    model.scorer = None
    return f"warm start from {previous.name} (+{new_items} items)"
