"""Settings for every test.

In CI (``REALTIME_VOICE_CI=1``, set by ``.ci/run``) a skipped test fails: scripts/setup installs
everything the tests need (espeak-ng, jackd, Chromium, ...), so a skip there means a broken set-up
hiding tests, not a machine without a tool.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("REALTIME_VOICE_CI") == "1":
        report.outcome = "failed"
        report.longrepr = (
            f"skipped in CI, where scripts/setup installs what it needs: {report.longrepr}"
        )


# scripts/release, run once per session (tests/release_build.py)
from .release_build import release  # noqa: E402, F401
