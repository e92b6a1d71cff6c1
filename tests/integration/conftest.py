"""Integration tests run against the Kafka and Redis that `make test` always starts: none may skip.

A skip here has hidden a missing service, a broken import or a slow test that CI never ran
(STYLE.md rule 9): any skipped outcome is reported as a failure instead.
"""

from __future__ import annotations

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"an integration test must not skip; it was skipped: {report.longrepr}"
