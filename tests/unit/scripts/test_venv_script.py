"""scripts/venv.sh, which every make target runs first: it prints the shared virtualenv's path and
installs uv only when there is none."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "venv.sh"


def _executable(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_uv_in_local_bin_but_not_on_path_is_used_not_reinstalled(tmp_path):
    home, cache, calls = tmp_path / "home", tmp_path / "cache", tmp_path / "calls"
    # uv where `pip install --user` puts it; its own bin dir is not on PATH (a fresh login shell)
    _executable(home / ".local" / "bin" / "uv", f'echo "uv $*" >> {calls}\n')
    # any pip install is recorded and fails: the script must not need one
    _executable(tmp_path / "bin" / "python3", f'echo "python3 $*" >> {calls}\nexit 1\n')
    key = hashlib.sha256((REPO / "uv.lock").read_bytes()).hexdigest()[:16]
    venv = cache / f"venv-{key}"
    venv.mkdir(parents=True)
    (venv / ".complete").touch()
    (venv / ".project-root").write_text(f"{REPO}\n")
    env = {"HOME": str(home), "FRESHREC_CACHE_DIR": str(cache), "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin"}
    assert not any(Path(d, "uv").exists() for d in ("/usr/bin", "/bin")), "this test needs a PATH without uv"

    out = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)

    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(venv)
    assert "installing uv" not in out.stderr
    recorded = calls.read_text() if calls.exists() else ""
    assert "pip install" not in recorded, recorded
    assert os.access(home / ".local" / "bin" / "uv", os.X_OK)
