"""End-to-end fixtures: one real ``hass`` process for all e2e tests, killed after the last of them.

The stand-in Realtime server (a SIMULATION of OpenAI's service) and the satellite agents run as
processes too; everything talks over loopback only. Logs and WAVs stay under tests/.cache/e2e/ for
inspection; a failing test shows the tails of the logs in its report.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import pytest_socket

from realtime_voice_dev.corpus import espeak_available

from .log_check import LogCheck
from .stack import ROOT, Satellite, Stack, Standin, silence_wav

WORKDIR = ROOT / "tests" / ".cache" / "e2e"

_current: Stack | None = None
_log_check = LogCheck()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here) and not espeak_available():
            item.add_marker(pytest.mark.skip(reason="espeak-ng is needed to synthesize speech"))
    # test_e2e_main's config flow is the shared hass's first satellite (it asks for the OpenAI key
    # once): it runs before the other files that add satellites (and accounts) to that hass.
    items.sort(key=lambda item: Path(str(item.fspath)) != here / "test_e2e_main.py")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    if report.failed and _current is not None and "e2e" in item.keywords:
        report.sections.append(("e2e process logs", _current.logs()))
    return report


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """pytest-homeassistant-custom-component blocks sockets; the allow-list stays 127.0.0.1."""


@pytest.fixture(autouse=True)
def _clean_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test on the shared stack leaves no ERROR, traceback or HA report about the integration
    in hass's and the satellites' logs (log_check.py); fails in its teardown otherwise."""
    if "main_stack" not in request.fixturenames:
        yield
        return
    stack = request.getfixturevalue("main_stack").stack
    yield
    problems = _log_check.problems(stack, request.node.originalname)
    if problems:
        pytest.fail(
            f"{len(problems)} ERROR, traceback or 'Detected' lines in the logs:\n"
            + "\n".join(problems[:20]),
            pytrace=False,
        )


class MainStack:
    """The shared stack: hass (onboarded), GA and beta stand-ins, the satellite "Kitchen"."""

    def __init__(self, stack: Stack, standin: Standin, beta: Standin, kitchen: Satellite) -> None:
        self.stack = stack
        self.hass = stack.hass
        self.standin = standin  # endpoint "ga"
        self.beta = beta  # endpoint "beta" (speaks only the beta interface)
        self.kitchen = kitchen
        self.entry_id: str | None = None


@pytest.fixture(scope="package")
def main_stack() -> Iterator[MainStack]:
    global _current  # noqa: PLW0603 - the report hook reads it
    pytest_socket.enable_socket()  # package fixtures run before the per-test socket fixture
    if WORKDIR.exists():
        shutil.rmtree(WORKDIR)
    stack = Stack(WORKDIR)
    _current = stack
    try:
        # Start all three at once: hass takes the longest.
        stack.hass.start(wait=False)
        # The GA endpoint behind TLS, as OpenAI is reached (HA's SSL context, blocking-call checks).
        standin = stack.standin("ga", wait=False, tls=True)
        beta = stack.standin("beta", wait=False)
        kitchen = stack.satellite("Kitchen")
        kitchen.start(silence_wav(WORKDIR / "silence.wav"), wait=False)
        standin.wait_ready()
        beta.wait_ready()
        kitchen.wait_ready()
        stack.hass.wait_ready()
        stack.hass.onboard()
        yield MainStack(stack, standin, beta, kitchen)
    finally:
        _current = None
        stack.close()
    # hass and the satellites stopping: no error either
    problems = _log_check.problems(stack, "stopping the stack")
    assert problems == [], "ERROR, traceback or 'Detected' lines in the logs:\n" + "\n".join(
        problems
    )
    # Stand-ins stopped with SIGINT report what the integration sent that the openai types reject
    # (one killed on purpose by a test loses what it saw before).
    violations = [v for standin in stack.standins for v in standin.violations]
    assert violations == [], f"the stand-in servers saw invalid client events: {violations}"
    # Deprecated API, blocking calls in the event loop, thread-unsafe calls: HA reports each once.
    reports = stack.hass.integration_reports()
    assert reports == [], "Home Assistant reported the integration:\n" + "\n".join(reports)
