"""Selection in production (issue 19): re-run the stream model's selection on the recent log, and decide.

The trainer (models/deep/trainer.py) calls :meth:`Retuner.run` on its schedule with the sessions it read
from the event log; ``freshrec evaluate --path worker`` (streams/worker_path.py) calls it on the log seen
so far, on the same schedule in event time. Either way the search is :class:`~models.selection.Selected`'s
(the same validation rule and budget as ``fit``), with one difference: candidate 0, the settings every
other candidate must beat, is the *running* configuration, not the class defaults. So the chosen and the
running settings are scored on the same validation cases, and :data:`PUBLISH_RULE` decides.

Only the newest ``max_sessions`` sessions are used: the settings must serve the traffic right after
them, and a bounded window bounds the cost (about one stream fit per distinct co-visitation setting
plus scoring 162k validation cases; 1-3 CPU minutes at 100k sessions, docs/benchmarks.md).

The co-visitation half-life is carried, not searched: the sessions the search fits on have no time
(``fit`` ignores it), so no candidate could measure it; it stays what the running configuration says
(at first ``FRESHREC_COVIS_HALF_LIFE_S``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contracts.artifacts import TUNING_COVIS, TUNING_SCORING, TuningConfig, current_tuning, point_tuning, \
    read_tuning, tuning_newer, tuning_version, write_tuning
from models.selection.search import Budget, objective
from models.selection.selected import Selected
from models.selection.spaces import STREAM_LIVE

PUBLISH_RULE = ("published only if HR@20 + MRR@20 of the chosen settings is higher than the running "
                "configuration's on the same validation cases (a tie keeps the running one)")


def settings_of(model: object, half_life_s: float | None = None) -> tuple[dict, dict]:
    """The ``(scoring, covis)`` blocks of a configuration holding ``model``'s current settings.

    ``half_life_s`` is the items side's (the worker decays there, not in the model); default the model's."""
    scoring_names = getattr(model, "scoring_params", ())
    scoring = {n: _plain(getattr(model, n)) for n in TUNING_SCORING if n in scoring_names and hasattr(model, n)}
    covis = {n: _plain(getattr(model, n)) for n in ("window", "backward", "top_k") if hasattr(model, n)}
    hl = half_life_s if half_life_s is not None else (getattr(model, "half_life_ms", None) or 0) / 1000.0
    if hl:
        covis["half_life_s"] = float(hl)
    return scoring, covis


def _plain(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else value


def apply_users(recommender: object, config: TuningConfig) -> dict:
    """Apply what the users side owns: scoring settings and how new pairs are formed. Keys the
    recommender has no such setting for are skipped (an online ranker keeps learning its own fusion
    on top of the sources); returns what was applied."""
    applied: dict = {}
    names = set(getattr(recommender, "scoring_params", ()))
    scoring = {k: v for k, v in config.scoring.items() if k in names}
    if scoring and hasattr(recommender, "set_scoring_params"):
        recommender.set_scoring_params(**scoring)
        applied.update(scoring)
    pairs = {k: config.covis[k] for k in ("window", "backward") if k in config.covis}
    if pairs and hasattr(recommender, "set_pair_params"):
        recommender.set_pair_params(**pairs)
        applied.update(pairs)
    return applied


@dataclass
class Decision:
    """A re-tune's outcome: the configuration it would publish, whether the rule says to, and why."""

    config: TuningConfig
    publish: bool
    reason: str

    def as_dict(self) -> dict:
        v = self.config.validation
        return {"version": self.config.version, "published": self.publish, "reason": self.reason,
                "chosen": {**self.config.scoring, **self.config.covis}, "validation": v["chosen"],
                "running_validation": v["running"], "running_version": v.get("running_version"),
                "cases": v["cases"], "data": self.config.data, "cpu_seconds": self.config.search.get("cpu_seconds")}


class Retuner:
    """Chooses settings for ``template``'s class on recent sessions, starting from the running ones.

    ``template`` is the model as the worker runs it (``models.recommender.from_settings``: page rules
    on, the operator's co-visitation settings); its other hyperparameters stay fixed."""

    def __init__(self, template: object, *, space: Mapping[str, Sequence[Any]] = STREAM_LIVE,
                 budget: Budget = Budget(), fraction: float = 0.1, max_sessions: int = 100_000):
        if max_sessions < 2:
            raise ValueError(f"max_sessions must be >= 2, got {max_sessions}")
        self.template = template
        self.space = {k: list(v) for k, v in space.items() if hasattr(template, k.partition(".")[0])}
        self.budget = budget
        self.fraction = fraction
        self.max_sessions = max_sessions

    def fixed(self, running: TuningConfig | None, half_life_s: float | None) -> dict:
        """The template's hyperparameters with the running configuration's settings on top."""
        params = self.template._get_params()
        scoring, covis = settings_of(self.template, half_life_s)
        if running is not None:
            scoring, covis = {**scoring, **running.scoring}, {**covis, **running.covis}
        params.update({k: v for k, v in scoring.items() if k in params})
        params.update({k: covis[k] for k in ("window", "backward", "top_k") if k in covis and k in params})
        if "half_life_s" in covis and "half_life_ms" in params:
            params["half_life_ms"] = covis["half_life_s"] * 1000.0
        return params

    def run(self, sessions: Sequence[Sequence[str]], running: TuningConfig | None, *, created: float,
            data: Mapping[str, Any] | None = None, half_life_s: float | None = None) -> Decision:
        """Select on the newest ``max_sessions`` of ``sessions`` (oldest first); ``running`` is the
        published configuration (None: the worker runs ``template``'s settings, with the items side's
        ``half_life_s``). ``created`` stamps the version (event time in a replay)."""
        recent = list(sessions)[-self.max_sessions:]
        fixed = self.fixed(running, half_life_s)
        selected = Selected(type(self.template), self.space, fixed, budget=self.budget, fraction=self.fraction)
        sel = selected.select(recent)
        params = selected.params_of(sel.chosen)
        probe = type(self.template)(**params)
        scoring, covis = settings_of(probe, fixed.get("half_life_ms", 0) / 1000.0 or half_life_s)
        gain = objective(sel.validation) - objective(sel.defaults_validation)
        publish = gain > 0 and sel.chosen != sel.defaults
        running_version = running.version if running is not None else None
        against = f"running {running_version or 'worker settings'}"
        pct = lambda s: {"hr": round(s[0], 4), "mrr": round(s[1], 4)}   # noqa: E731
        reason = (f"validation HR@20 + MRR@20 {objective(sel.validation):.3f} vs {against}'s "
                  f"{objective(sel.defaults_validation):.3f} on {sel.cases} cases: "
                  + ("published" if publish else "kept the running configuration"))
        window = {**dict(data or {}), "sessions": len(recent), "validation_start": sel.validation_start,
                  "validation_sessions": sel.validation_sessions, "validation_cases": sel.validation_cases}
        config = TuningConfig(
            version=tuning_version(created, scoring, covis), created=float(created),
            rule=f"{sel.rule}, over the running configuration as candidate 0; {PUBLISH_RULE}",
            scoring=scoring, covis={k: covis[k] for k in TUNING_COVIS if k in covis},
            validation={"chosen": pct(sel.validation), "running": pct(sel.defaults_validation), "cases": sel.cases,
                        "running_version": running_version},
            data=window, search={"candidates": sel.candidates, "rungs": [list(r) for r in sel.rungs],
                                 "cpu_seconds": round(sel.cpu_seconds, 1), "seconds": round(sel.seconds, 1)},
            model=getattr(self.template, "name", "stream"))
        return Decision(config, publish, reason)


def running_config(store) -> TuningConfig | None:
    """The published configuration of ``store`` (None when none was ever published); TuningError if
    ``CURRENT`` names one that does not read."""
    version = current_tuning(store)
    return None if version is None else read_tuning(store, version)


def publish(store, decision: Decision) -> bool:
    """Write and point ``CURRENT`` at the decision's configuration if the rule said so and it is newer than
    the published one (a trainer whose clock went back must not hide a newer version); returns whether."""
    if not decision.publish:
        return False
    current = current_tuning(store)
    if not tuning_newer(decision.config.version, current):
        decision.publish = False
        decision.reason += f"; not published: {current} is newer"
        return False
    write_tuning(store, decision.config)
    point_tuning(store, decision.config.version)
    return True


def round_due(new_events: int, elapsed: float | None, min_events: int, interval: float) -> bool:
    """The trainer's schedule, for its rounds and the worker path's replay of them: ``min_events`` new
    events, or at least one once ``interval`` has passed since the last round (``elapsed`` None: none yet)."""
    return new_events >= min_events or (new_events > 0 and (elapsed is None or elapsed >= interval))
