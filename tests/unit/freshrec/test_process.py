from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from freshrec.stack.process import PidFile, StackError, pid_alive, stop_pid, wait_until


def test_pidfile_ignores_unrelated_live_pid(tmp_path):
    pf = PidFile(tmp_path / "x.pid", marker="definitely-not-in-any-cmdline")
    pf.write(os.getpid())
    assert pf.read() is None


def test_pidfile_recognises_its_process(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "freshrec-marker"])
    try:
        pf = PidFile(tmp_path / "x.pid", marker="freshrec-marker")
        pf.write(proc.pid)
        # Popen can return while the kernel still shows the child's command line empty (seen 92 times
        # in 200 on a loaded machine): the pid file is read later in real use, never within microseconds.
        wait_until(lambda: b"freshrec-marker" in Path(f"/proc/{proc.pid}/cmdline").read_bytes(), timeout=10,
                   what="the child's command line")
        assert pf.read() == proc.pid
    finally:
        stop_pid(proc.pid)
        proc.wait()
    assert not pid_alive(proc.pid)
    assert pf.read() is None


def test_wait_until_reports_dead_process():
    with pytest.raises(StackError, match="exited"):
        wait_until(lambda: False, timeout=5, alive=lambda: False, what="svc")
