"""The e2e suite's log check (log_check.py) on logs written here: it finds ERROR lines, tracebacks
and HA's reports about the integration, each once, and lets through what a test allows."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from . import log_check
from .log_check import LogCheck

HASS_OK = "2026-12-07 05:00:00.123 INFO (MainThread) [homeassistant.core] Starting\n"
HASS_ERROR = (
    "2026-12-07 05:00:01.456 ERROR (MainThread) [homeassistant.components.x] It broke\n"
    "Traceback (most recent call last):\n"
    '  File "x.py", line 1, in <module>\n'
    "ValueError: x\n"
)
HASS_DETECTED = (
    "2026-12-07 05:00:02.000 WARNING (MainThread) [homeassistant.helpers.frame] Detected that "
    "custom integration 'realtime_voice' calls something deprecated\n"
)
SATELLITE_OK = "2026-12-07 05:00:00,123 INFO realtime_voice_satellite.link.server: link listening\n"
SATELLITE_ERROR = (
    "2026-12-07 05:00:03,000 ERROR realtime_voice_satellite.agent.capture: error while "
    "processing microphone audio: ZeroDivisionError: float division by zero\n"
)


def _stack(tmp_path: Path) -> SimpleNamespace:
    satellite = SimpleNamespace(name="Kitchen", slug="kitchen", workdir=tmp_path, runs=1)
    hass = SimpleNamespace(log=tmp_path / "home-assistant.log")
    return SimpleNamespace(hass=hass, satellites=[satellite])


def test_errors_tracebacks_and_reports_are_found_once(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    hass_log = stack.hass.log
    satellite_log = tmp_path / "satellite-kitchen-1.log"
    hass_log.write_text(HASS_OK)
    satellite_log.write_text(SATELLITE_OK)
    check = LogCheck()
    assert check.problems(stack, "test_a") == []  # type: ignore[arg-type]
    with hass_log.open("a") as out:
        out.write(HASS_ERROR + HASS_DETECTED)
    with satellite_log.open("a") as out:
        out.write(SATELLITE_ERROR + "2026-12-07 05:00:04,000 ERROR half a li")  # being written
    problems = check.problems(stack, "test_b")  # type: ignore[arg-type]
    assert problems == [
        "hass: " + HASS_ERROR.splitlines()[0],
        "hass: Traceback (most recent call last):",
        "hass: " + HASS_DETECTED.strip(),
        "satellite Kitchen: " + SATELLITE_ERROR.strip(),
    ]
    with satellite_log.open("a") as out:
        out.write("ne\n")
    assert check.problems(stack, "test_c") == [  # type: ignore[arg-type]
        "satellite Kitchen: 2026-12-07 05:00:04,000 ERROR half a line"
    ]


def test_an_allowed_error_passes_only_in_its_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(log_check.ALLOWED, "test_kill", [("satellite Kitchen", r"ZeroDivision")])
    stack = _stack(tmp_path)
    (tmp_path / "satellite-kitchen-1.log").write_text(SATELLITE_ERROR)
    assert LogCheck().problems(stack, "test_kill") == []  # type: ignore[arg-type]
    assert len(LogCheck().problems(stack, "test_other")) == 1  # type: ignore[arg-type]
