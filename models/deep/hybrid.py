"""HybridRecommender: the worker's stream sources and fusion plus the deep model as one more source.

This is the full production ranking: co-visitation, repeat, complementary, content and trending
propose; the deep model proposes its own top-K ("predicted next from your session") and its
probability is one more fusion feature; the rules filter. In evaluation ``fit`` trains the deep model
on the training sessions; in the worker the published artifact is loaded at start and hot-swapped by
the ``deep-swap`` timer (``streams/deep_swap.py``).
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Mapping, Sequence

from models.deep.source import DeepSource
from models.ranking.fusion import DEFAULT_WEIGHTS, WeightedFusion
from models.recommender import StreamRecommender

log = logging.getLogger(__name__)


class HybridRecommender(StreamRecommender):
    name = "hybrid"
    scoring_params = (*StreamRecommender.scoring_params, "deep_weight")

    def __init__(self, page_rules: bool = True, deep_weight: float = 1.0,
                 deep_params: Mapping[str, object] | None = None, deep_artifact: str | None = None, weights: Mapping[str, float] | None = None,
                 **stream_params):
        self.deep_weight = deep_weight
        self.deep_params = dict(deep_params or {})
        self.deep_artifact = deep_artifact
        weights = {**(DEFAULT_WEIGHTS if weights is None else weights), "deep": deep_weight}
        super().__init__(page_rules=page_rules, weights=weights, **stream_params)
        self.deep = DeepSource(self.deep_params, deep_artifact)
        self.ranker = WeightedFusion(self.weights)

    def _get_params(self) -> dict[str, object]:
        # ``**stream_params`` hides the base class's hyperparameters from the signature clone() reads.
        base = inspect.signature(StreamRecommender.__init__).parameters
        params = {n: copy.deepcopy(getattr(self, n)) for n in base if n != "self" and hasattr(self, n)}
        params.update(super()._get_params())
        return params

    def set_scoring_params(self, **params) -> None:
        deep_weight = params.pop("deep_weight", self.deep_weight)
        weights = params.pop("weights", self.weights)
        self.deep_weight = deep_weight
        super().set_scoring_params(weights={**weights, "deep": deep_weight}, **params)

    # --- selection (models.selection.Selected): one deep training for every candidate ------------------
    def fit_shared(self, sessions: Sequence[Sequence[str]], validation_start: int) -> object:
        """Train (or load) the deep model once for a whole selection and its final refit.

        The network trains on all but its own held-out newest sessions; they must include every session
        selection scores on (``validation_start`` onwards), so the deep weight is chosen on sessions
        neither the network nor the stream sources learned from."""
        if self.deep_artifact is None:
            from models.deep.recommender import DeepRecommender

            default = inspect.signature(DeepRecommender.__init__).parameters["validation_fraction"].default
            fraction = float(self.deep_params.get("validation_fraction", default))
            held_out, needed = int(len(sessions) * fraction), len(sessions) - validation_start
            if held_out < needed and "validation_fraction" in self.deep_params:
                raise ValueError(f"the deep model holds out {held_out} sessions, fewer than the "
                                 f"{needed} selection validates on")
            if held_out < needed:
                # The default share is fewer sessions than selection scores on (small data): hold out
                # the whole slice, so no candidate is scored on sessions the network trained on.
                self.deep.params["validation_fraction"] = (needed + 0.5) / len(sessions)
        self.deep.fit(sessions)
        return self.deep.scorer

    def use_shared(self, scorer: object) -> None:
        """Take the deep model ``fit_shared`` trained; ``fit`` then fits only the stream sources."""
        self.deep.swap(scorer)
        self._shared_deep = True

    def fit(self, sessions: Sequence[Sequence[str]]) -> None:
        if not getattr(self, "_shared_deep", False):
            super().fit(sessions)
            return
        sessions = [[str(x) for x in s] for s in sessions]
        for name, source in self.sources.items():
            fit = getattr(source, "fit", None)
            if name != "deep" and fit is not None:
                fit(sessions)

    @property
    def sources(self) -> dict[str, object]:
        return {**super().sources, "deep": self.deep}

    @property
    def version(self) -> str:
        return f"{self.name}:{self.deep.version or 'none'}"


def for_evaluation(**params) -> HybridRecommender:
    """``freshrec evaluate -m hybrid``: with ``FRESHREC_EVAL_DEEP_ARTIFACT`` set, ``fit`` loads that version
    (trained by ``freshrec train --data`` on the same dataset) instead of training the deep model again."""
    from freshrec.settings import Settings

    artifact = Settings().eval_deep_artifact
    return HybridRecommender(**params, deep_artifact=str(artifact) if artifact else None)


def from_settings(settings=None) -> HybridRecommender:
    """The worker's hybrid (``FRESHREC_WORKER_RECOMMENDER=models.deep.hybrid:from_settings``).

    Loads the published version from ``FRESHREC_DEEP_STORE`` when there is one; without one the worker
    runs the stream sources alone until the trainer publishes.
    """
    from freshrec.settings import Settings
    from contracts.artifacts import ArtifactError
    from models.deep.artifact import load_current

    s = settings if settings is not None else Settings()
    rec = HybridRecommender(page_rules=True, deep_weight=s.deep_weight, window=s.covis_window,
                            top_k=s.covis_top_k, half_life_ms=s.covis_half_life_s * 1000.0,
                            trending_half_life_ms=s.trending_half_life_s * 1000.0)
    try:
        rec.deep.swap(load_current(s.resolved_deep_store))
    except ArtifactError as exc:
        log.warning("deep model not loaded at start, the stream sources serve alone: %s", exc)
    return rec
