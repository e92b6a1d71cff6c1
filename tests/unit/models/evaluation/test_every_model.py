"""Every registered model runs both protocols on the tiny dataset: what `freshrec evaluate` needs of it."""

import subprocess
import sys
from pathlib import Path

import pytest

from contracts.datasets import load_dataset
from models.base import Candidate
from models.evaluation import registry
from models.evaluation.protocol import StrData, evaluate

REPO = Path(__file__).resolve().parents[4]


@pytest.fixture
def tiny(tiny_dir) -> StrData:
    return StrData.from_dataset(load_dataset(tiny_dir))


def _build(name: str):
    # No skip on RegistryError: a registered model whose module (or torch, onnxruntime) fails to
    # import is a model `freshrec evaluate` cannot run, and the suite must say so.
    return registry.create(name)


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


def test_a_model_whose_dependency_fails_to_import_fails_here():
    # torch made unimportable, as a broken install would be: the deep model's tests must fail, not skip
    code = ("import sys; sys.modules['torch'] = None; import pytest; "
            "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-k', 'test_lists_are_k_distinct and deep]', "
            f"{__file__!r}]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert out.returncode == 1 and "1 failed" in out.stdout and "skipped" not in out.stdout, out.stdout[-2000:]
