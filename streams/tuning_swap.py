"""Hot swap of the published tuning configuration inside a running worker (the ``tuning-swap`` timer).

The trainer publishes a configuration beside the deep artifact when its re-run selection beats the
running one (contracts/artifacts.py, models/selection/retune.py). Each tick reads the store's
``tuning/CURRENT`` (one small file) and, when it names a version newer than the one applied, reads that
configuration and applies it with plain attribute changes on the event loop, so between two windows:

- the users side sets the scoring settings on the recommender (fusion weights, repeat decay, recency,
  normalisation) and how new co-visitation pairs are formed (window, backward weight);
- the items side sets the decay half-life and pruning of the rows it counts (:class:`CovisPolicy`).

Pairs already counted keep their weights: the settings apply to what is counted from then on. A worker
applies the newest configuration before its first window (a restart picks it up), and reports the
version it runs in the log, in ``freshrec_worker_model_version_info{model="tuning"}`` and in the
``stats:worker`` hash (``tuning_version_users`` / ``tuning_version_items``). A configuration that does
not read is logged once and skipped; the running one stays.
"""

from __future__ import annotations

import logging
from pathlib import Path

from contracts.artifacts import TuningConfig, TuningError, current_tuning, read_tuning, tuning_newer
from models.selection.retune import apply_users

log = logging.getLogger(__name__)


def apply_items(policy, config: TuningConfig) -> dict:
    """The items side's share of ``config``: decay half-life and pruning; returns what was applied."""
    covis = config.covis
    applied = {k: covis[k] for k in ("half_life_s", "top_k") if k in covis}
    policy.retune(half_life_ms=covis["half_life_s"] * 1000.0 if "half_life_s" in covis else None,
                  top_k=covis.get("top_k"))
    return applied


class TuningSwapper:
    """Applies newer configurations of ``store`` to ``recommender`` (users side) and ``policy`` (items side);
    either may be None when this worker does not run that side."""

    def __init__(self, store: Path, *, recommender=None, policy=None, metrics=None):
        self.store = Path(store)
        self.recommender = recommender
        self.policy = policy
        self.metrics = metrics
        self.version: str | None = None
        self.rejected: set[str] = set()

    @property
    def sides(self) -> list[str]:
        return [side for side, part in (("users", self.recommender), ("items", self.policy)) if part is not None]

    def poll(self) -> str | None:
        """Apply the published configuration if it is newer than the running one; returns its version."""
        try:
            version = current_tuning(self.store)
        except OSError as exc:
            log.warning("tuning store %s unreadable: %s", self.store, exc)
            return None
        if version is None or version == self.version or version in self.rejected:
            return None
        if not tuning_newer(version, self.version):
            # Versions only move forward (STYLE rule 7): a rollback is a new publish of the old settings.
            self.rejected.add(version)
            log.warning("tuning %s is older than the running %s; ignored", version, self.version)
            return None
        try:
            config = read_tuning(self.store, version)
        except (TuningError, OSError) as exc:
            self.rejected.add(version)
            log.error("tuning %s rejected, keeping %s: %s", version, self.version or "the worker's settings", exc)
            return None
        applied = {}
        if self.recommender is not None:
            applied.update(apply_users(self.recommender, config))
        if self.policy is not None:
            applied.update(apply_items(self.policy, config))
        self.version = version
        if self.metrics is not None:
            self.metrics.set_model_version("tuning", version)
        log.info("tuning %s applied (%s side): %s; validation %s vs %s's %s on %s cases", version,
                 "+".join(self.sides), applied, config.validation.get("chosen"),
                 config.validation.get("running_version") or "settings", config.validation.get("running"),
                 config.validation.get("cases"))
        return version

    def report(self) -> dict[str, str]:
        """The ``stats:worker`` fields naming the version each side of this worker runs."""
        return {f"tuning_version_{side}": self.version for side in self.sides} if self.version else {}


def tuning_swapper(settings, handlers) -> TuningSwapper | None:
    """The worker's swapper (None when ``FRESHREC_TUNING_POLL_S`` is 0), with the newest configuration
    already applied, so no window runs with settings older than the published ones."""
    if settings.tuning_poll_s <= 0:
        return None
    swapper = TuningSwapper(settings.resolved_deep_store,
                            recommender=handlers.recommender if settings.runs("users") else None,
                            policy=handlers.covis if settings.runs("items") else None, metrics=handlers.metrics)
    swapper.poll()
    return swapper
