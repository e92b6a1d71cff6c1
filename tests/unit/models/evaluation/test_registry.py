import sys
import types

import pytest

from models.baselines import STAN, VSKNN, Pop
from models.evaluation import registry


def test_baselines_registered_with_the_readme_settings():
    for name in ("pop", "spop", "itemknn", "sknn", "vsknn", "vsknn+boost", "stan", "stan+boost", "stream"):
        assert name in registry.names()
    digi = registry.create("vsknn", "diginetica")
    yoo = registry.create("vsknn+boost", "yoochoose1_64")
    assert isinstance(digi, VSKNN) and (digi.k, digi.sample_size, digi.position_weight) == (500, 500, "linear")
    assert (yoo.k, yoo.sample_size, yoo.position_weight, yoo.idf_weight) == (200, 5000, "log", 1.0)
    assert yoo.repeat_boost == 0.05
    stan = registry.create("stan+boost", "diginetica")
    assert isinstance(stan, STAN) and (stan.l3, stan.repeat_boost) == (4.0, 0.2)


def test_create_returns_fresh_models():
    assert registry.create("pop") is not registry.create("pop")


def test_unknown_name_lists_the_choices():
    with pytest.raises(registry.RegistryError, match="vsknn"):
        registry.create("nope")


def test_lazy_target_that_has_not_landed_is_a_clear_error():
    registry.register("_future", "models._not_written_yet:Thing")
    try:
        with pytest.raises(registry.RegistryError, match="cannot be imported yet"):
            registry.create("_future")
    finally:
        registry._REGISTRY.pop("_future")


def test_bare_module_path_finds_its_one_recommender_class(monkeypatch):
    module = types.ModuleType("_fake_models")

    class Fake(Pop):
        pass

    Fake.__module__ = "_fake_models"
    module.Fake = Fake
    module.Pop = Pop   # imported, not defined there: ignored
    monkeypatch.setitem(sys.modules, "_fake_models", module)
    registry.register("_fake", "_fake_models", per_dataset={"diginetica": {"repeat_boost": 0.5}})
    try:
        made = registry.create("_fake", "diginetica")
        assert type(made) is Fake and made.repeat_boost == 0.5
        assert registry.create("_fake", "other").repeat_boost == 0.0
    finally:
        registry._REGISTRY.pop("_fake")
