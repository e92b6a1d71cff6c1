import math

import numpy as np
import pytest

from models.evaluation.metrics import Coverage, hit_rate, hit_rate_curve, mrr, ndcg, rank_of

RANKS = np.array([1, 3, 0, 25])   # 0 = not recommended; 25 is beyond k=20


def test_rank_of_is_one_based_and_zero_when_absent():
    assert rank_of("b", ["a", "b", "c"]) == 2
    assert rank_of("z", ["a", "b"]) == 0
    assert rank_of("a", []) == 0


def test_hit_rate_counts_only_ranks_within_k_in_percent():
    assert hit_rate(RANKS, 20) == pytest.approx(50.0)
    assert hit_rate(RANKS, 1) == pytest.approx(25.0)
    assert hit_rate(RANKS, 30) == pytest.approx(75.0)


def test_mrr_counts_ranks_beyond_k_as_zero():
    assert mrr(RANKS, 20) == pytest.approx(100 * (1 + 1 / 3) / 4)
    assert mrr(RANKS, 2) == pytest.approx(25.0)


def test_ndcg_single_relevant_item():
    assert ndcg(RANKS, 20) == pytest.approx((1 + 1 / math.log2(4)) / 4)
    assert ndcg(np.array([2]), 20) == pytest.approx(1 / math.log2(3))


def test_curve_is_hr_at_each_k():
    assert hit_rate_curve(RANKS, 3) == pytest.approx([25.0, 25.0, 50.0])


def test_empty_input_gives_zero_not_nan():
    empty = np.array([], dtype=int)
    assert (hit_rate(empty, 20), mrr(empty, 20), ndcg(empty, 20)) == (0.0, 0.0, 0.0)


def test_coverage_is_share_of_catalogue_in_any_list():
    cov = Coverage()
    cov.update(["a", "b"])
    cov.update(["b", "c"])
    assert cov.share(6) == pytest.approx(0.5)
    assert cov.share(0) == 0.0
