"""The one way integration tests wait: poll a condition until it holds, never sleep as synchronisation."""

from __future__ import annotations

import time


def wait_until(cond, timeout: float, what, interval: float = 0.05):
    """Return ``cond()``'s first truthy value; fail the test after ``timeout`` seconds.

    ``what`` names the condition; a callable is called only on failure, so a message that quotes a
    worker's log shows the log at the timeout, not the empty one of the moment the wait began."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what() if callable(what) else what}")
