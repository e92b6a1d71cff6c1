"""Validation ranks: ties count against the model, in training (torch) and when publishing (onnxruntime)."""

from __future__ import annotations

import numpy as np
import torch

from models.deep.training import evaluate_cases
from models.deep.validation import pessimistic_ranks


class Constant(torch.nn.Module):
    """Scores every one of ``n_items`` the same: it knows nothing, so it must rank nothing first."""

    max_len = 8

    def __init__(self, n_items: int):
        super().__init__()
        self.n_items = n_items

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        return torch.full((items.shape[0], self.n_items), 1.0 / self.n_items)


def test_a_model_scoring_every_item_the_same_hits_nothing():
    cases = [([1, 2], 3), ([4], 5), ([7, 8, 9], 10)]
    assert evaluate_cases(Constant(50), cases) == (0.0, 0.0)


def test_a_tie_ranks_the_target_below_every_item_scored_the_same():
    scores = np.array([[0.5, 0.2, 0.5, 0.1], [0.1, 0.9, 0.3, 0.3]])
    assert pessimistic_ranks(scores, np.array([0, 3])).tolist() == [2, 3]
    torch_scores = torch.tensor(scores)
    cases_net = type("Fixed", (torch.nn.Module,), {"max_len": 4, "forward": lambda self, x: torch_scores})()
    hr, mrr = evaluate_cases(cases_net, [([1], 1), ([1], 4)], k=2)
    assert (hr, mrr) == (50.0, 25.0)  # ranks 2 and 3: one hit at 1/2
