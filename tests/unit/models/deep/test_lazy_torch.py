"""The worker's scoring path never imports torch (about 500 MB of RSS it does not need)."""

from __future__ import annotations

import subprocess
import sys

from models.deep.artifact import publish

# What a hybrid worker runs: build the recommender, load the published version, score a window.
WORKER_PATH = """
import sys
from freshrec.settings import Settings
from models.base import Interaction, Session
from models.deep.hybrid import from_settings
import streams.app, streams.deep_swap
rec = from_settings(Settings(deep_store=sys.argv[1]))
assert rec.deep.version, "the published version was not loaded"
rows = rec.deep.candidates_many([Session("u", [Interaction("i1"), Interaction("i2")])], 5)
assert rows[0], "the deep source proposed nothing"
print(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
"""


def test_scoring_path_loads_no_torch(trained, tmp_path):
    store = tmp_path / "store"
    publish(store, trained.save(store))
    out = subprocess.run([sys.executable, "-c", WORKER_PATH, str(store)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"torch modules imported on the scoring path: {out.stdout[:300]}"
