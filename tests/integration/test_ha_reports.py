"""The autouse check in conftest.py sees HA's reports about this integration (and only those)."""

from __future__ import annotations

import logging

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import frame

from custom_components.realtime_voice.const import DOMAIN

from .conftest import reports_about_this_integration


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord(
        "homeassistant.helpers.frame", logging.WARNING, "", 0, message, (), None
    )


def test_report_formats_are_recognised() -> None:
    ours = [
        # helpers/frame.py, deprecated API found by the caller's frame
        "Detected that custom integration 'realtime_voice' calls `device_registry.async_get_device`"
        " at custom_components/realtime_voice/__init__.py, line 3: x. Please report it",
        # helpers/frame.py, by domain (e.g. an update listener beside async_update_reload_and_abort)
        "Detected that custom integration 'realtime_voice' has an update listener and should use it"
        " for scheduling a reload. This will stop working in Home Assistant 2026.12.0, please ...",
        # util/loop.py, a blocking call in the event loop
        "Detected blocking call to open with args ('x',) inside the event loop by custom"
        " integration 'realtime_voice' at custom_components/realtime_voice/media.py, line 9: ...",
    ]
    others = [
        "Detected that custom integration 'other_voice' calls something deprecated",
        "Detected that integration 'realtime_voice_extra' does something",
        "Detected code that calls `device_registry.async_get_device`",
        "Link to satellite realtime_voice lost",
    ]
    found = reports_about_this_integration(_record(m) for m in ours + others)
    assert found == ours


async def test_a_real_report_is_caught(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """What HA's own report_usage logs for this integration matches."""
    frame.report_usage(
        "uses something deprecated (test)",
        integration_domain=DOMAIN,
        core_behavior=frame.ReportBehavior.LOG,
        custom_integration_behavior=frame.ReportBehavior.LOG,
    )
    found = reports_about_this_integration(caplog.records)
    assert len(found) == 1
    assert "uses something deprecated (test)" in found[0]
    caplog.clear()  # the autouse check would fail this test on the report made on purpose
