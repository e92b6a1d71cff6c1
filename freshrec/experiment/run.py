"""One closed-loop experiment: a worker serving every variant, the shop reading its lists, the figures.

The worker and the shop are the operator's own commands (``freshrec worker``, ``freshrec shop
--read-recs``) run as children the way ``freshrec demo`` runs them, in a deployment of their own (app
id, topics, Redis prefix), so a run never reads another's lists or counters and leaves nothing behind.
The figures come from the shop's log of what it sent (:mod:`freshrec.experiment.analysis`).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import typer

from freshrec.demo import Part, _check_services, _kafka_security_env, _stop, _tail
from freshrec.deployment import remove_deployment
from freshrec.experiment import analysis
from freshrec.settings import Settings

DEFAULT_VARIANTS = ("popular", "batch", "fusion", "online")
DAY_MS = 86_400_000
#: The in-process runs' simulated start (python -m freshrec.experiment.inproc): a Wednesday, 11:06:40 UTC.
INPROC_START_MS = 1_795_000_000_000
#: The UTC time of day a run starts at unless ``--start-ms`` says otherwise: the in-process runs'. The
#: shop's traffic follows the hour of day, so the old default, "the hours just past", made a run's
#: traffic and results depend on when it was started (a night run named no trend at all).
DEFAULT_START_OF_DAY_MS = INPROC_START_MS % DAY_MS
SALT = "closed-loop"
READY_TIMEOUT_S = 180.0


class ExperimentError(RuntimeError):
    pass


@dataclass
class Config:
    variants: list[str] = field(default_factory=lambda: list(DEFAULT_VARIANTS))
    hours: float = 1.5
    clock: float = 12.0
    users: int = 1000
    items: int = 1000
    # Events per simulated second; default users / 50: a user is in one session at a time, and at the
    # default 12x clock that is about 400 records a wall second with impressions, which one worker
    # keeps up with on a shared 2-core machine (users / 20 left it a minute of stream time behind).
    rate: float | None = None
    seed: int = 7
    shift_at_h: float | None = None  # simulated hours after start; default half of ``hours``
    batch_minutes: float = 60.0
    start_ms: int | None = None
    bin_s: float = 300.0
    # Recommender settings for the run's worker (Settings field -> value): the run's children do not
    # inherit the caller's FRESHREC_* (the deployment's names must not leak), so these are the way in.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def event_rate(self) -> float:
        return self.rate if self.rate is not None else max(1.0, self.users / 50)

    @property
    def shift_h(self) -> float:
        return self.hours / 2 if self.shift_at_h is None else self.shift_at_h

    @property
    def wall_s(self) -> float:
        return self.hours * 3600 / self.clock


def parse_settings(pairs: list[str]) -> dict[str, str]:
    """``FIELD=VALUE`` pairs (field as in Settings or as its FRESHREC_* name) for the run's worker,
    checked against Settings; raises ValueError with what to fix. The deployment's own names (topics,
    app id, Redis prefix, A/B arms, ...) are the run's and cannot be set."""
    from pydantic import ValidationError

    from freshrec.settings import ENV_PREFIX, Settings

    fixed = {k.removeprefix(ENV_PREFIX).lower() for k in deployment("x", Config())}
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().removeprefix(ENV_PREFIX).lower()
        if not sep or not name:
            raise ValueError(f"{pair!r}: write FIELD=VALUE, e.g. online_trend_slot=2")
        if name not in Settings.model_fields:
            raise ValueError(f"{name!r} is not a setting (docs/configuration.md lists them)")
        if name in fixed:
            raise ValueError(f"{name!r} belongs to the run's own deployment and cannot be set")
        out[name] = value.strip()
    try:
        Settings(**out)
    except ValidationError as exc:
        raise ValueError("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
    return out


def deployment(unique: str, cfg: Config) -> dict[str, str]:
    """FRESHREC_* of the run's own deployment: the worker serves ``cfg.variants`` as one A/B, with the
    recommender settings of ``cfg.settings``."""
    return {f"FRESHREC_{k.upper()}": v for k, v in cfg.settings.items()} | {
        "FRESHREC_WORKER_APP_ID": f"freshrec-exp-{unique}",
        "FRESHREC_TOPIC_EVENTS": f"exp.events.{unique}",
        "FRESHREC_TOPIC_CATALOG": f"exp.catalog.{unique}",
        "FRESHREC_TOPIC_DEAD_LETTER": f"exp.dlq.{unique}",
        "FRESHREC_TOPIC_ITEM_UPDATES": f"exp.item-updates.{unique}",
        "FRESHREC_REDIS_PREFIX": f"exp.{unique}:",
        "FRESHREC_WORKER_RECOMMENDER": "models.online.recommender:from_settings",
        "FRESHREC_AB_EXPERIMENT": SALT,
        "FRESHREC_AB_VARIANTS": ",".join(f"{v}:1" for v in cfg.variants),
        "FRESHREC_AB_BATCH_PERIOD_S": str(cfg.batch_minutes * 60),
        "FRESHREC_WORKER_WEB_PORT": "0",
        "FRESHREC_ONLINE_CHECKPOINT_S": "0",
        # Neighbour lists reach the model in seconds of wall time, which the clock makes minutes of
        # stream time: publish often so co-visitation is as fresh in stream time as in production.
        "FRESHREC_NEIGHBORS_PUBLISH_S": str(max(0.2, 5.0 / cfg.clock)),
    }


def deployment_settings(settings: Settings, unique: str, cfg: Config) -> Settings:
    """The settings a child of the run sees: the services of ``settings``, the names of the deployment."""
    values = {k.removeprefix("FRESHREC_").lower(): v for k, v in deployment(unique, cfg).items()}
    return Settings(kafka_bootstrap=settings.kafka_bootstrap, redis_url=settings.redis_url, **values)


def ensure_stack(echo: Callable[[str], None]) -> Settings:
    """The services of the stack file or FRESHREC_*; ``freshrec stack up`` first if none answers."""
    settings = Settings()
    try:
        _check_services(settings)
        return settings
    except typer.Exit:
        echo("Kafka or Redis does not answer: running `freshrec stack up`")
    proc = subprocess.run([sys.executable, "-m", "freshrec", "stack", "up"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise ExperimentError(f"`freshrec stack up` failed:\n{proc.stderr[-2000:]}")
    return Settings()


def run(cfg: Config, out_dir: Path, *, keep: bool = False, echo: Callable[[str], None] = print,
        progress: bool = True) -> dict:
    """Run the experiment and return its report (also written to ``out_dir``, with the plot).

    ``keep`` leaves the deployment (topics, Redis keys) in place; the report's ``deployment`` names it
    and :func:`remove_deployment` removes it.
    """
    settings = ensure_stack(echo)
    from freshrec.stack.manager import connection_env

    unique = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    run_dir = out_dir / f"run-{unique}"
    run_dir.mkdir(parents=True, exist_ok=True)
    overrides = deployment(unique, cfg)
    exp_settings = deployment_settings(settings, unique, cfg)
    env = {k: v for k, v in connection_env(settings).items() if not k.startswith("FRESHREC_")
           or k in ("FRESHREC_KAFKA_BOOTSTRAP", "FRESHREC_REDIS_URL", "FRESHREC_REDIS_READ_URL",
                    "FRESHREC_REDIS_WRITE_URL", "FRESHREC_CACHE_DIR", "FRESHREC_STACK_DIR")}
    env.update(_kafka_security_env(settings))
    env.update(overrides)
    sim_s = cfg.hours * 3600
    start_ms = cfg.start_ms if cfg.start_ms is not None else default_start_ms(int(time.time() * 1000),
                                                                              int(sim_s * 1000))
    log_path = run_dir / "shop-events.jsonl"
    exe = [sys.executable, "-m", "freshrec"]
    worker = Part("worker", [*exe, "worker", "--loglevel", "warning"], run_dir / "worker.log")
    shop = Part("shop", [*exe, "shop", "--users", str(cfg.users), "--items", str(cfg.items),
                         "--rate", str(cfg.event_rate), "--seed", str(cfg.seed), "--clock", str(cfg.clock),
                         "--duration", str(cfg.wall_s), "--shift-at", str(cfg.shift_h * 3600 / cfg.clock),
                         "--start-ms", str(start_ms), "--read-recs", "--json", "--log-events", str(log_path)],
                run_dir / "shop.log")
    parts = [worker, shop]
    started = time.monotonic()
    try:
        from producers.kafka_out import ensure_topics

        ensure_topics(exp_settings)
        echo(f"experiment {unique}: variants {', '.join(cfg.variants)}; {cfg.hours:g} simulated h at "
             f"{cfg.clock:g}x ({cfg.wall_s:.0f} s), {cfg.users} users, seed {cfg.seed}; logs in {run_dir}")
        worker.proc = subprocess.Popen(worker.argv, stdout=worker.log.open("ab"), stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        _wait_ready(exp_settings, worker, echo)
        echo(f"worker ready after {time.monotonic() - started:.0f} s; the shop starts")
        shop.proc = subprocess.Popen(shop.argv, stdout=subprocess.PIPE, stderr=shop.log.open("ab"),
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        lag = LagMeter(log_path)
        summary = _follow_shop(cfg, exp_settings, worker, shop, progress, lag)
    finally:
        with contextlib.redirect_stdout(sys.stderr):  # stdout carries only the report (--json)
            _stop([p for p in parts if p.proc is not None])
        if not keep:
            remove_deployment(exp_settings, unique)
    report = build_report(cfg, log_path, summary, start_ms)
    report["lag"] = lag.summary(cfg.clock)
    report["deployment"] = {"id": unique, "redis_prefix": overrides["FRESHREC_REDIS_PREFIX"],
                            "app_id": overrides["FRESHREC_WORKER_APP_ID"], "kept": keep, "run_dir": str(run_dir),
                            "events_log": str(log_path)}
    report["wall_s"] = round(time.monotonic() - started, 1)
    write_outputs(report, out_dir, unique)
    return report


def _redis(settings: Settings):
    import redis

    return redis.Redis.from_url(settings.redis_url, socket_timeout=5)


def _wait_ready(settings: Settings, worker: Part, echo) -> None:
    """Until the worker has processed a window: a ``forget`` of a user no shop has proves the path."""
    from contracts.events import Event
    from contracts.redis_keys import Keys
    from producers.kafka_out import EventProducer

    redis = _redis(settings)
    producer = EventProducer.from_settings(settings, client_id="freshrec-experiment")
    key = Keys(settings.redis_prefix).stats("worker")
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            if worker.proc.poll() is not None:
                raise ExperimentError(f"the worker exited with {worker.proc.returncode}:\n{_tail(worker.log)}")
            producer.send_event(Event(event_id=uuid.uuid4().hex, ts=int(time.time() * 1000), user_id="probe",
                                      type="forget"))
            producer.flush()
            if redis.hget(key, "events") is not None:
                return
            time.sleep(2.0)
        raise ExperimentError(f"the worker processed nothing within {READY_TIMEOUT_S:.0f} s:\n{_tail(worker.log)}")
    finally:
        producer.close()
        redis.close()


class LagMeter:
    """How far the worker is behind the shop, sampled once a second while the shop runs.

    The shop's log grows as it sends (read incrementally: events sent, newest event time); the worker's
    ``stats:worker`` has its event count and the newest event time of its last window. A worker that
    falls behind serves every arm stale lists (run 2 of the first sitting), so the report says how far.
    """

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self._offset = 0
        self._partial = b""
        self.sent = 0
        self.sent_ts = 0
        self.records: list[int] = []
        self.stream_ms: list[int] = []

    def _read_log(self) -> None:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            if b'"type"' in line:
                self.sent += 1
                self.sent_ts = max(self.sent_ts, int(json.loads(line)["ts"]))

    def sample(self, worker_events: int | None, worker_ts: int | None) -> None:
        self._read_log()
        if worker_events is not None and self.sent:
            self.records.append(max(0, self.sent - worker_events))
        if worker_ts and self.sent_ts:
            self.stream_ms.append(max(0, self.sent_ts - worker_ts))

    def summary(self, clock: float) -> dict:
        def pct(xs, q):
            return float(np.percentile(xs, q)) if xs else None
        s = [x / 1000 for x in self.stream_ms]
        return {"samples": len(self.records), "records_p50": pct(self.records, 50),
                "records_p90": pct(self.records, 90), "records_max": max(self.records, default=None),
                "stream_s_p50": pct(s, 50), "stream_s_p90": pct(s, 90), "stream_s_max": max(s, default=None),
                "wall_s_max": (max(s) / clock) if s else None}


def _follow_shop(cfg: Config, settings: Settings, worker: Part, shop: Part, progress: bool,
                 lag: LagMeter | None = None) -> dict:
    """Wait for the shop, showing simulated time and the worker's progress; the shop's JSON summary."""
    from contracts.redis_keys import Keys
    from producers.progress import progress_bar

    redis = _redis(settings)
    key = Keys(settings.redis_prefix).stats("worker")
    t0 = time.monotonic()
    try:
        with progress_bar("experiment", total=round(cfg.wall_s), quiet=not progress) as bar:
            while shop.proc.poll() is None:
                if worker.proc.poll() is not None:
                    shop.proc.terminate()
                    raise ExperimentError(f"the worker exited with {worker.proc.returncode}:\n{_tail(worker.log)}")
                elapsed = time.monotonic() - t0
                try:
                    raw_events, raw_ts = redis.hmget(key, "events", "last_event_ts")
                    events = int(float(raw_events or 0))
                except Exception:  # noqa: BLE001 - progress only
                    events, raw_ts = -1, None
                if lag is not None and events >= 0:
                    lag.sample(events, int(float(raw_ts)) if raw_ts else None)
                behind = f", {lag.records[-1]:,} behind" if lag is not None and lag.records else ""
                bar(min(elapsed, cfg.wall_s), f"stream {elapsed * cfg.clock / 3600:.2f} h, "
                                              f"worker {events:,} events{behind}")
                time.sleep(1.0)
    finally:
        redis.close()
    out = shop.proc.stdout.read().decode(errors="replace") if shop.proc.stdout else ""
    if shop.proc.returncode != 0:
        raise ExperimentError(f"the shop exited with {shop.proc.returncode}:\n{_tail(shop.log)}")
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise ExperimentError(f"no summary from the shop: {out[-500:]!r}") from None


def default_start_ms(now_ms: int, sim_ms: int) -> int:
    """The latest start at :data:`DEFAULT_START_OF_DAY_MS` whose simulated span ends by ``now_ms``: the
    same hours of the day every run (so a seed reproduces its traffic), and event times of the last day
    or so (the topics' retention keeps them)."""
    latest = now_ms - sim_ms
    start = latest - latest % DAY_MS + DEFAULT_START_OF_DAY_MS
    return start if start <= latest else start - DAY_MS


def build_report(cfg: Config, log_path: Path, summary: dict, start_ms: int) -> dict:
    from models.online.ab import assign

    events, leaf_of = analysis.read_log(log_path)
    shares = {v: 1.0 for v in cfg.variants}
    variant_of = (lambda u: assign(u, SALT, shares))  # noqa: E731 - the worker's own assignment
    rows = analysis.per_user(events)
    trendy = set(summary.get("trending") or ())
    shift_ts = start_ms + int(cfg.shift_h * 3600 * 1000)
    return {
        "config": asdict(cfg) | {"rate": cfg.event_rate, "shift_at_h": cfg.shift_h, "start_ms": start_ms},
        "shop": {k: summary.get(k) for k in ("events", "impression", "click", "cart", "order", "trending",
                                             "recs_read", "recs_missing", "pacing_rebased_s")},
        "variants": analysis.variant_table(rows, variant_of, cfg.variants, seed=cfg.seed),
        "shift": analysis.shift_follow(events, lambda item: leaf_of.get(item) in trendy, cfg.variants,
                                       shift_ts) | {"at_s": cfg.shift_h * 3600, "categories": sorted(trendy)},
        "list_age": analysis.list_age(events, cfg.variants),
        "timeline": analysis.ctr_timeline(events, cfg.variants, start_ms, cfg.bin_s),
    }


def write_outputs(report: dict, out_dir: Path, unique: str) -> None:
    from freshrec.experiment.plot import plot_ctr

    out_dir.mkdir(parents=True, exist_ok=True)
    png = out_dir / f"experiment-{unique}.png"
    if plot_ctr(report, png):
        report["plot"] = str(png)
    path = out_dir / f"experiment-{unique}.json"
    report["json"] = str(path)
    text = json.dumps(report, indent=1)
    path.write_text(text)
    (out_dir / "latest.json").write_text(text)


