"""Model registry: a name -> how to build the model, with per-dataset settings.

Adding a model is one line::

    register("online", "models.online.recommender:OnlineRecommender", help="River fusion ranker")

Targets are import paths resolved only when the model is built, so a model can be registered before
its module lands (building it then fails with a clear message). ``"pkg.module:Name"`` names a class or
factory; a bare ``"pkg.module"`` means the one ``Recommender`` class defined in that module.
Keyword settings apply to every dataset; ``per_dataset`` overrides them by dataset folder name
(``diginetica``, ``yoochoose1_64``; a folder whose name starts with a key matches it too).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models.base import Recommender


class RegistryError(LookupError):
    """Unknown model name, or its module cannot be imported yet; the message says which."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: str | Callable[..., Recommender]
    params: Mapping[str, Any] = field(default_factory=dict)
    per_dataset: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    help: str = ""

    def settings(self, dataset: str = "") -> dict[str, Any]:
        out = dict(self.params)
        for key, overrides in self.per_dataset.items():
            if dataset == key or dataset.startswith(key):
                out.update(overrides)
                break
        return out


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, target: str | Callable[..., Recommender], *, help: str = "",
             per_dataset: Mapping[str, Mapping[str, Any]] | None = None, **params: Any) -> ModelSpec:
    """Register (or replace) a model under ``name``; returns its spec."""
    spec = ModelSpec(name, target, dict(params), dict(per_dataset or {}), help)
    _REGISTRY[name] = spec
    return spec


def names() -> list[str]:
    return list(_REGISTRY)


def spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise RegistryError(f"unknown model {name!r}; choose one of: {', '.join(_REGISTRY)}") from None


def _is_recommender_class(obj: object, module: str) -> bool:
    return (inspect.isclass(obj) and obj.__module__ == module
            and all(callable(getattr(obj, verb, None)) for verb in ("fit", "learn_one", "recommend_many")))


def resolve(target: str | Callable[..., Recommender]) -> Callable[..., Recommender]:
    if not isinstance(target, str):
        return target
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"{target} cannot be imported yet ({exc}); has that model landed?") from None
    if attr:
        try:
            return getattr(module, attr)
        except AttributeError:
            raise RegistryError(f"{module_name} has no {attr!r}") from None
    found = [obj for obj in vars(module).values() if _is_recommender_class(obj, module_name)]
    if len(found) != 1:
        raise RegistryError(f"{module_name} defines {len(found)} Recommender classes; register it as "
                            f"'{module_name}:ClassName'")
    return found[0]


def create(name: str, dataset: str = "", **overrides: Any) -> Recommender:
    """A fresh, untrained model with the settings registered for ``dataset``."""
    s = spec(name)
    return resolve(s.target)(**{**s.settings(dataset), **overrides})


# --- the models ------------------------------------------------------------------------
# Settings from ../shared/data/README.md ("Strong neighbourhood baselines"), tuned there on a
# validation slice of the training sessions, never on test.
_VSKNN = {"diginetica": dict(k=500, sample_size=500, position_weight="linear", neighbour_decay="linear",
                             idf_weight=5.0),
          "yoochoose": dict(k=200, sample_size=5000, position_weight="log", neighbour_decay="linear",
                            idf_weight=1.0)}
_STAN = {"diginetica": dict(k=200, sample_size=1000, l1=2.0, l2=None, l3=4.0),
         "yoochoose": dict(k=200, sample_size=5000, l1=2.0, l2=None, l3=8.0)}
_BOOST = {"diginetica": 0.2, "yoochoose": 0.05}


def _boosted(settings: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {ds: {**kw, "repeat_boost": _BOOST[ds]} for ds, kw in settings.items()}


_SKNN = {"diginetica": dict(k=100, sample_size=1000), "yoochoose": dict(k=100, sample_size=1000)}

register("pop", "models.baselines:Pop", help="most clicked items")
register("spop", "models.baselines:SessionPop", help="session's own items by count, then popular")
register("itemknn", "models.baselines:ItemKNN", help="cosine neighbours of the last item")
register("sknn", "models.baselines:SKNN", per_dataset=_SKNN, help="session-kNN")
register("sknn+boost", "models.baselines:SKNN", per_dataset=_boosted(_SKNN), help="session-kNN + repeat boost")
register("vsknn", "models.baselines:VSKNN", per_dataset=_VSKNN, help="vector-multiplication session-kNN")
register("vsknn+boost", "models.baselines:VSKNN", per_dataset=_boosted(_VSKNN), help="V-SKNN + repeat boost")
register("stan", "models.baselines:STAN", per_dataset=_STAN, help="sequence and time aware neighbourhood")
register("stan+boost", "models.baselines:STAN", per_dataset=_boosted(_STAN), help="STAN + repeat boost")
register("stream", "models.recommender:StreamRecommender", page_rules=False,
         help="the worker's sources and fusion ranker, papers' protocol (page rules off)")
register("stream+page", "models.recommender:StreamRecommender", page_rules=True,
         help="the worker's recommender as the detail page runs it (current item dropped, diversity cap)")
register("online", "models.online.recommender:OnlineRecommender", page_rules=False,
         help="the worker's sources ranked by the River online ranker (learns every event), page rules off")
register("deep", "models.deep.recommender:DeepRecommender",
         help="torch session model: causal self-attention + repeat/explore mixture (trains in fit)")
# The deep source's fusion weight, chosen on each dataset's validation slice (last 5% of the training
# sessions, the deep model's own validation slice): docs/benchmarks.md, "Hybrid".
_HYBRID = {"diginetica": {"deep_weight": 0.25}, "yoochoose": {"deep_weight": 2.0}}
register("hybrid", "models.deep.hybrid:for_evaluation", page_rules=False, per_dataset=_HYBRID,
         help="the worker's full ranking: stream sources + the deep model's top-K and score in the fusion "
              "(trains the deep model in fit, or loads FRESHREC_EVAL_DEEP_ARTIFACT), page rules off")
