"""Checkpoints of the online models, each stamped with the Kafka offsets it reflects.

Only what no Faust table holds is saved: the River ranker, the BiasedMF, item facts, user profiles
and the prequential totals (sessions, co-visitation and the catalog recover from their changelogs).
A checkpoint is a pickle plus a JSON sidecar (``offsets`` per ``topic:partition`` of the last event
learned, ``events``, ``created_ms``), written to a temporary name and renamed, sidecar last, so a
crash mid-write leaves the previous checkpoint intact. ``keep`` newest checkpoints are kept.

How this ties to committed offsets: the worker commits offsets every second and checkpoints every
``FRESHREC_ONLINE_CHECKPOINT_S``. On restart it loads the newest checkpoint and Faust resumes from
the committed offsets, which are at or after the checkpoint's (the checkpoint is taken after the
window it reflects was processed). Events between the two were applied to the tables but are not
re-learned by the ranker: at most one checkpoint interval of ranker learning is lost, never applied
twice. The sidecar's offsets say exactly which interval (compare with the group's committed offsets).
"""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path

SUFFIX = ".ckpt"


def save(directory: Path, state: dict, offsets: dict[str, int], *, events: int = 0, keep: int = 3) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    created = int(time.time() * 1000)
    path = directory / f"online-{created:013d}{SUFFIX}"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as fh:
        pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    meta = {"offsets": dict(sorted(offsets.items())), "events": events, "created_ms": created, "file": path.name}
    side = path.with_suffix(".json")
    side_tmp = side.with_suffix(".json.tmp")
    side_tmp.write_text(json.dumps(meta))
    os.replace(side_tmp, side)
    for old in sorted(directory.glob(f"online-*{SUFFIX}"))[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    return path


def load_latest(directory: Path) -> tuple[dict, dict] | None:
    """``(state, meta)`` of the newest complete checkpoint (one with its sidecar), or ``None``."""
    if not directory.is_dir():
        return None
    for side in sorted(directory.glob("online-*.json"), reverse=True):
        path = side.with_suffix(SUFFIX)
        if not path.exists():
            continue
        meta = json.loads(side.read_text())
        with open(path, "rb") as fh:
            return pickle.load(fh), meta  # our own files, written by save() above
    return None
