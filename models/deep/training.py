"""Training loop and validation metrics for :class:`SessionNet` (no I/O: callers report progress).

Checkpoints are chosen on the validation slice cut from the end of the training sessions, never on
test data: the weights of the best validation epoch are the ones kept.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from models.deep.data import pad_right, training_batches
from models.deep.network import SessionNet


@dataclass
class EpochReport:
    epoch: int
    loss: float
    val_hr: float
    val_mrr: float
    seconds: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@torch.no_grad()
def evaluate_cases(net: SessionNet, cases: Sequence[tuple[list[int], int]], k: int = 20,
                   batch_size: int = 512) -> tuple[float, float]:
    """HR@k and MRR@k in percent over ``(prefix, next)`` index cases, ranking against every item."""
    if not cases:
        return 0.0, 0.0
    was_training = net.training
    net.eval()
    hits = rr = 0.0
    for b in range(0, len(cases), batch_size):
        chunk = cases[b:b + batch_size]
        scores = net(pad_right([p for p, _ in chunk], min(net.max_len, max(len(p) for p, _ in chunk))))
        target = torch.tensor([n - 1 for _, n in chunk])
        target_score = scores.gather(1, target[:, None])
        # Ties count against the model: with `>` a network scoring every item the same ranked every
        # target first (HR and MRR 100 %). Same rule as models/deep/validation.py.
        rank = (scores >= target_score).sum(1)
        inside = rank <= k
        hits += inside.sum().item()
        rr += (inside / rank).sum().item()
    net.train(was_training)
    return 100.0 * hits / len(cases), 100.0 * rr / len(cases)


def train(net: SessionNet, seqs: Sequence[list[int]], val_cases: Sequence[tuple[list[int], int]], *,
          epochs: int, batch_size: int, lr: float, seed: int, patience: int = 2,
          negatives: int = 0, sampler: torch.Tensor | None = None, dense_lr_ratio: float = 0.1,
          label_smoothing: float = 0.0,
          on_batch: Callable[[int, int], None] | None = None,
          on_epoch: Callable[[EpochReport], None] | None = None) -> list[EpochReport]:
    """Adam with linear decay to 10% of ``lr``; keeps the best validation-MRR epoch's weights in ``net``.

    Stops early after ``patience`` epochs without improvement. ``on_batch(done, total)`` and
    ``on_epoch(report)`` let the CLI show progress.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # Item embeddings are sparse (each row sees few batches) and need a large step; the dense layers,
    # updated every batch, become noisy at that step size, so they learn ``dense_lr_ratio`` slower.
    embeddings = [net.item_emb.weight]
    dense = [p for p in net.parameters() if p is not net.item_emb.weight]
    opt = torch.optim.Adam([{"params": embeddings, "lr": lr}, {"params": dense, "lr": lr * dense_lr_ratio}])
    n_batches = -(-len(seqs) // batch_size)
    total = max(1, epochs * n_batches)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - 0.9 * min(step, total) / total)
    history: list[EpochReport] = []
    best_state, best_mrr, stale = None, -1.0, 0
    done = 0
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        net.train()
        loss_sum = 0.0
        for batch in training_batches(seqs, batch_size, rng):
            opt.zero_grad(set_to_none=True)
            loss = net.loss(batch, sampler, negatives, label_smoothing)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item()
            done += 1
            if on_batch is not None:
                on_batch(done, total)
        hr, mrr = evaluate_cases(net, val_cases)
        report = EpochReport(epoch, loss_sum / max(1, n_batches), hr, mrr, time.perf_counter() - start)
        history.append(report)
        if on_epoch is not None:
            on_epoch(report)
        if not val_cases or mrr > best_mrr:
            best_mrr, stale = mrr, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            stale += 1
            if stale >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return history
