"""Model registry: a name -> how to build the model, and the space its ``fit`` selects settings from.

Adding a model is one line::

    register("online", "models.online.recommender:OnlineRecommender", help="River fusion ranker")

Targets are import paths resolved only when the model is built, so a model can be registered before
its module lands (building it then fails with a clear message). ``"pkg.module:Name"`` names a class or
factory; a bare ``"pkg.module"`` means the one ``Recommender`` class defined in that module.
Keyword settings are fixed for every dataset. A ``space`` makes the model choose the rest in ``fit``, on
the newest 10 % of its training sessions (:mod:`models.selection`); there are no per-dataset settings,
so a dataset the registry has never seen gets the same treatment as the ones it has.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from models.base import Recommender
from models.selection import Selected, spaces


class RegistryError(LookupError):
    """Unknown model name, or its module cannot be imported yet; the message says which."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: str | Callable[..., Recommender]
    params: Mapping[str, Any] = field(default_factory=dict)
    space: Mapping[str, list[Any]] | None = None
    help: str = ""
    selection: Mapping[str, Any] = field(default_factory=dict)   # Selected's budget / fraction


_REGISTRY: dict[str, ModelSpec] = {}


def register(name: str, target: str | Callable[..., Recommender], *, help: str = "",
             space: Mapping[str, list[Any]] | None = None, selection: Mapping[str, Any] | None = None,
             **params: Any) -> ModelSpec:
    """Register (or replace) a model under ``name``; returns its spec."""
    spec = ModelSpec(name, target, dict(params), dict(space) if space else None, help, dict(selection or {}))
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


def create(name: str, dataset: str = "", *, select: bool = True, **overrides: Any) -> Recommender:
    """A fresh, untrained model; with ``select`` (and a registered space) its ``fit`` chooses its settings.

    ``dataset`` is ignored (settings no longer depend on it); it stays for callers written before.

    ``select=False`` gives the class defaults with the registered fixed settings: the "before selection"
    column of a comparison, and what the worker runs until it has data to select on."""
    s = spec(name)
    factory = resolve(s.target)
    fixed = {**s.params, **overrides}
    if not select or not s.space:
        return factory(**fixed)
    space = {n: v for n, v in s.space.items() if n.partition(".")[0] not in overrides}
    return Selected(factory, space, fixed, **s.selection)


# --- the models ------------------------------------------------------------------------
register("pop", "models.baselines:Pop", help="most clicked items")
register("spop", "models.baselines:SessionPop", help="session's own items by count, then popular")
register("itemknn", "models.baselines:ItemKNN", help="cosine neighbours of the last item")
register("sknn", "models.baselines:SKNN", space=spaces.SKNN, help="session-kNN")
register("sknn+boost", "models.baselines:SKNN", space=spaces.boosted(spaces.SKNN), help="session-kNN + repeat boost")
register("vsknn", "models.baselines:VSKNN", space=spaces.VSKNN, help="vector-multiplication session-kNN")
register("vsknn+boost", "models.baselines:VSKNN", space=spaces.boosted(spaces.VSKNN), help="V-SKNN + repeat boost")
register("stan", "models.baselines:STAN", space=spaces.STAN, help="sequence and time aware neighbourhood")
register("stan+boost", "models.baselines:STAN", space=spaces.boosted(spaces.STAN), help="STAN + repeat boost")
register("stream", "models.recommender:StreamRecommender", page_rules=False, space=spaces.STREAM,
         help="the worker's sources and fusion ranker, papers' protocol (page rules off)")
register("stream+page", "models.recommender:StreamRecommender", page_rules=True, space=spaces.STREAM,
         help="the worker's recommender as the detail page runs it (current item dropped, diversity cap)")
register("online", "models.online.recommender:OnlineRecommender", page_rules=False,
         help="the worker's sources ranked by the River online ranker (learns every event), page rules off")
register("deep", "models.deep.recommender:DeepRecommender",
         help="torch session model: causal self-attention + repeat/explore mixture (trains in fit)")
# The validation slice is the deep model's own (its last 5 %, never trained on), so the deep weight is
# chosen on sessions neither the stream sources nor the network learned from.
register("hybrid", "models.deep.hybrid:for_evaluation", page_rules=False, space=spaces.HYBRID,
         selection={"fraction": 0.05},
         help="the worker's full ranking: stream sources + the deep model's top-K and score in the fusion "
              "(trains the deep model in fit, or loads FRESHREC_EVAL_DEEP_ARTIFACT), page rules off")
