import sys
import types

import pytest

from models.baselines import STAN, VSKNN, Pop
from models.evaluation import registry
from models.selection import Selected


def test_models_select_their_settings_and_none_depends_on_the_dataset_name():
    for name in ("pop", "spop", "itemknn", "sknn", "vsknn", "vsknn+boost", "stan", "stan+boost", "stream"):
        assert name in registry.names()
    for name in registry.names():
        assert repr(registry.create(name, "diginetica")) == repr(registry.create(name, "yoochoose1_64"))
    vsknn = registry.create("vsknn+boost")
    assert isinstance(vsknn, Selected) and vsknn.factory is VSKNN and "repeat_boost" in vsknn.space
    assert "repeat_boost" not in registry.create("stan").space
    assert isinstance(registry.create("stan+boost", select=False), STAN)
    # a fixed override takes the parameter out of the search
    assert "k" not in registry.create("sknn", k=7).space and registry.create("sknn", k=7).model.k == 7


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
    registry.register("_fake", "_fake_models", repeat_boost=0.5)
    try:
        made = registry.create("_fake")
        assert type(made) is Fake and made.repeat_boost == 0.5
    finally:
        registry._REGISTRY.pop("_fake")
