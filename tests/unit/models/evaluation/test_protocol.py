import math

import numpy as np
import pytest

from contracts.datasets import load_dataset
from models.base import Interaction, Session
from models.baselines import Pop
from models.evaluation.protocol import StrData, evaluate, evaluate_offline, evaluate_prequential


@pytest.fixture
def tiny(tiny_dir) -> StrData:
    return StrData.from_dataset(load_dataset(tiny_dir))


def test_dataset_is_read_as_strings_with_the_papers_cases(tiny):
    assert tiny.train[0] == ["1", "2", "3"]
    assert tiny.cases == [(["2", "3"], "4"), (["2"], "3"), (["1", "2"], "2"), (["1"], "2")]
    assert tiny.n_items == 5
    assert tiny.n_test_events == len(tiny.cases)


def test_offline_pop_by_hand(tiny):
    # train clicks: 2 and 3 three times (2 wins the tie), so the top-2 list is [2, 3] for every case
    r = evaluate_offline(Pop(), tiny, k=2)
    assert r.ranks.tolist() == [0, 2, 1, 1]
    assert r.hr == pytest.approx(75.0)
    assert r.mrr == pytest.approx(100 * (0 + 0.5 + 1 + 1) / 4)
    assert r.ndcg == pytest.approx((1 / math.log2(3) + 2) / 4)
    assert r.coverage == pytest.approx(2 / 5)
    assert (r.cases, r.mode, r.k, r.dataset) == (4, "offline", 2, "tiny")


def test_prequential_scores_before_learning_in_stream_order(tiny):
    # test session [2, 3, 4]: click 3 is scored with top [2, 3] (rank 2), then 4 misses;
    # session [1, 2, 2]: 2 is top both times
    r = evaluate_prequential(Pop(), tiny, k=2)
    assert r.ranks.tolist() == [2, 0, 1, 1]
    assert r.cases == tiny.n_test_events
    assert r.mode == "prequential"


class _Spy:
    """Records what the protocol calls, in order."""

    name = "spy"

    def __init__(self):
        self.calls = []

    def fit(self, sessions):
        self.calls.append(("fit", len(sessions)))

    def learn_one(self, session: Session, interaction: Interaction):
        self.calls.append(("learn", session.user_id, tuple(session.items), interaction.item, interaction.ts))

    def recommend_many(self, sessions, k):
        self.calls.append(("recommend", tuple(sessions[0].items)))
        return [[] for _ in sessions]


def test_prequential_never_shows_the_model_the_click_it_predicts(tiny):
    spy = _Spy()
    evaluate_prequential(spy, tiny, k=2)
    assert not any(c[0] == "fit" for c in spy.calls)
    learns = [c for c in spy.calls if c[0] == "learn"]
    assert len(learns) == sum(map(len, tiny.train)) + sum(map(len, tiny.test))
    stamps = [c[4] for c in learns]
    assert stamps == sorted(set(stamps))   # strictly increasing
    assert stamps[1] - stamps[0] == 1_000 and stamps[3] - stamps[2] == 61_000   # as `freshrec replay` stamps
    # the first test recommend sees ["2"] and comes before "3" is learned; user ids are session numbers
    first = spy.calls.index(("recommend", ("2",)))
    assert spy.calls[first + 1][0:4] == ("learn", "5", ("2",), "3")
    assert spy.calls[first - 1][0:4] == ("learn", "5", (), "2")


def test_offline_fits_once_then_only_recommends(tiny):
    spy = _Spy()
    r = evaluate_offline(spy, tiny, k=5)
    assert spy.calls[0] == ("fit", 4)
    assert all(c[0] == "recommend" for c in spy.calls[1:])
    assert r.hr == 0.0 and r.cases == 4


def test_json_fields_present_and_typed(tiny):
    out = evaluate(Pop(), tiny, mode="offline", k=2, name="pop").to_json()
    types = {"dataset": str, "model": str, "mode": str, "k": int, "hr": float, "mrr": float, "ndcg": float,
             "coverage": float, "cases": int, "seconds": float}
    assert set(out) == set(types)
    for key, typ in types.items():
        assert type(out[key]) is typ, key


def test_unknown_mode_is_a_clear_error(tiny):
    with pytest.raises(ValueError, match="offline, prequential"):
        evaluate(Pop(), tiny, mode="online")


def test_progress_adds_up(tiny):
    seen = []
    evaluate_offline(Pop(), tiny, k=2, batch=3, progress=seen.append)
    assert seen == [3, 1]
    seen = []
    evaluate_prequential(Pop(), tiny, k=2, progress=seen.append, report_every=1)
    assert sum(seen) == tiny.n_clicks and np.all(np.array(seen) > 0)


def test_warm_start_fits_then_streams_only_the_test_sessions(tiny):
    spy = _Spy()
    evaluate(spy, tiny, mode="prequential", k=2, warm_start=True)
    assert spy.calls[0] == ("fit", 4)
    learns = [c for c in spy.calls if c[0] == "learn"]
    assert len(learns) == sum(map(len, tiny.test))
    assert learns[0][1] == "5"   # numbered as in a full replay
    cold = evaluate_prequential(Pop(), tiny, k=2)
    warm = evaluate_prequential(Pop(), tiny, k=2, warm_start=True)
    assert warm.ranks.tolist() == cold.ranks.tolist()
