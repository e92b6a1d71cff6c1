"""Every registered model runs both protocols on the tiny dataset: what `freshrec evaluate` needs of it."""

import pytest

from models.base import Candidate
from models.evaluation import registry
from models.evaluation.protocol import StrData, evaluate
from producers.datasets import load_dataset


@pytest.fixture
def tiny(tiny_dir) -> StrData:
    return StrData.from_dataset(load_dataset(tiny_dir))


def _build(name: str):
    try:
        return registry.create(name, "diginetica")
    except registry.RegistryError as exc:   # registered ahead of its module landing
        pytest.skip(str(exc))


@pytest.mark.parametrize("name", registry.names())
@pytest.mark.parametrize("mode", ["offline", "prequential"])
def test_model_runs_the_protocol(name, mode, tiny):
    # warm start: every model can stream after a fit; learning from nothing is tested on the baselines
    result = evaluate(_build(name), tiny, mode=mode, k=3, name=name, warm_start=True)
    assert result.cases == 4 and 0.0 <= result.hr <= 100.0 and 0.0 <= result.mrr <= result.hr
    assert 0.0 < result.coverage <= 1.0


@pytest.mark.parametrize("name", registry.names())
def test_lists_are_k_distinct_candidates_best_first(name, tiny):
    model = _build(name)
    model.fit(tiny.train)
    from models.base import Interaction, Session

    session = Session("u", [Interaction("1"), Interaction("2")])
    recs = model.recommend_many([session], 3)[0]
    assert 0 < len(recs) <= 3 and all(isinstance(c, Candidate) for c in recs)
    assert len({c.item for c in recs}) == len(recs)
    assert [c.score for c in recs] == sorted((c.score for c in recs), reverse=True)
