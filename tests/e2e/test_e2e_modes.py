"""Each mode of the compatibility layer end to end: config flow over REST, a spoken command, an announcement.

auto against a GA endpoint is the main scenario (test_e2e_main.py); here: new against GA, legacy
against a beta endpoint, and auto falling back to legacy against a beta-only endpoint. The endpoints
are the stand-in server (a SIMULATION of OpenAI's service) as processes; each mode gets its own
satellite agent process, added and removed through HA's REST API on the shared hass.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from .conftest import WORKDIR, MainStack
from .stack import command_wav, played, wait_for
from .test_e2e_main import LIGHT, expect_spoken_command, light_off

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


class Mode(NamedTuple):
    selection: str  # the model_selection option (set in the options flow)
    endpoint: str  # the stand-in's --endpoint
    interface: str  # expected in sensor.<name>_interface
    model: str  # expected in sensor.<name>_model
    fallback: bool  # expected in its "fallback" attribute


@pytest.mark.parametrize(
    "mode",
    [
        Mode("new", "ga", "ga", "gpt-realtime-2.1", False),
        Mode("legacy", "beta", "beta", "gpt-4o-realtime-preview", False),
        Mode("auto", "beta", "beta", "gpt-4o-realtime-preview", True),
    ],
    ids=["new-on-ga", "legacy-on-beta", "auto-falls-back-on-beta-only"],
)
def test_mode(main_stack: MainStack, mode: Mode) -> None:
    selection, endpoint, interface, model, fallback = mode
    hass, stack = main_stack.hass, main_stack.stack
    standin = main_stack.standin if endpoint == "ga" else main_stack.beta
    name = f"Mode {selection} {endpoint}"
    satellite = stack.satellite(name)
    slug = satellite.slug
    errors_before = len(hass.integration_errors())
    hass.expose(LIGHT)
    light_off(main_stack)
    since = len(hass.events)
    # The wake word comes 12 s after the agent listens: time for the config flow to add it and,
    # for a mode other than auto or another endpoint, for the options flow to set it (a reload).
    satellite.start(command_wav(WORKDIR / "command-12s.wav", 12.0))
    entry_id = None
    try:
        entry = hass.add_satellite(satellite, standin, selection)
        entry_id = entry["entry_id"]
        assert entry["title"] == name
        hass.wait_state(f"assist_satellite.{slug}", lambda s: s == "idle", 10, "to be idle")
        expect_spoken_command(main_stack, since, satellite=name)

        hass.wait_state(f"sensor.{slug}_interface", lambda s: s == interface, 10, f"== {interface}")
        assert hass.state_of(f"sensor.{slug}_model") == model
        attributes = hass.state(f"sensor.{slug}_model")["attributes"]
        assert attributes["fallback"] is fallback, attributes
        if fallback:
            assert attributes["fallback_reason"], attributes

        assert satellite.output is not None
        hass.wait_state(f"assist_satellite.{slug}", lambda s: s == "idle", 30, "to be idle again")
        before = played(satellite.output)[1]
        hass.call(
            "assist_satellite", "announce", entity_id=f"assist_satellite.{slug}", message="Hello."
        )
        wait_for(
            lambda: played(satellite.output)[1] > before + 0.3,
            20,
            f"the announcement's audio in {satellite.output}",
            stack.logs,
        )
        new_errors = hass.integration_errors()[errors_before:]
        assert new_errors == [], "ERROR lines from custom_components.realtime_voice:\n" + "\n".join(
            new_errors
        )
    finally:
        if entry_id is not None:
            hass.remove_entry(entry_id)
        satellite.stop()
    assert hass.entity_ids(entry_id) == [], "removing the entry removes its entities"
