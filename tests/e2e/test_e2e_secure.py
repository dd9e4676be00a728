"""#23 end to end on the newest release: the front door opens only after the user's spoken yes.

A satellite agent process hears (synthesized, in a WAV) "hey jarvis, unlock the front door", then,
after the model's question has played, "yes"; the stand-in (a SIMULATION of OpenAI's service) hears
those two turns and calls Assist's HassTurnOff on the front door lock (config/configuration.yaml)
on the first. Home Assistant holds the call, the model asks, HA hears the yes and unlocks the door.
"""

from __future__ import annotations

from typing import Any

import pytest

from realtime_voice_satellite.audio import write_wav
from tests.satellite.harness import Script

from .conftest import WORKDIR, MainStack
from .stack import DOMAIN, Hass, Standin, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

LOCK = "lock.front_door"
UNLOCK_SCRIPT = {
    "transcripts": ["Unlock the front door.", "Yes."],
    "transcript": "Yes.",
    "tools": [{"tool": "HassTurnOff", "arguments": {"name": "Front door"}, "final": "Sure?"}],
}


def tool_calls(hass: Hass, since: int) -> list[dict[str, Any]]:
    hass.pump_events()
    return [e for e in hass.events[since:] if e["event_type"] == f"{DOMAIN}_tool_called"]


def test_the_front_door_opens_after_the_spoken_yes(main_stack: MainStack) -> None:
    hass, stack = main_stack.hass, main_stack.stack
    standin = Standin("ga", WORKDIR, script=UNLOCK_SCRIPT)
    stack.standins.append(standin)
    standin.start()
    hass.expose(LOCK)
    hass.call("lock", "lock", entity_id=LOCK)
    hass.wait_state(LOCK, lambda s: s == "locked", 10, "to be locked")
    # The wake word 7 s after the agent starts (time for the config flow); the yes once the
    # model's question ("Sure?", 0.3 s) has played and the satellite listens again.
    script = (
        Script()
        .pause(7.0)
        .say("hey jarvis")
        .pause(0.1)
        .say("unlock the front door")
        .pause(3.5)
        .say("yes")
        .pause(2.0)
    )
    wav = WORKDIR / "unlock-then-yes.wav"
    write_wav(wav, script.samples(), script.rate)
    satellite = stack.satellite("Hall")
    since = len(hass.events)
    errors_before = len(hass.integration_errors())
    satellite.start(wav)
    entry_id = None
    try:
        entry_id = hass.add_satellite(satellite, standin)["entry_id"]
        held = hass.wait_event(f"{DOMAIN}_tool_called", 45, since, stack.logs)
        assert held["data"]["result"]["status"] == "confirmation_required", held
        assert LOCK in held["data"]["result"]["targets"]
        assert hass.state_of(LOCK) == "locked"
        wait_for(lambda: len(tool_calls(hass, since)) >= 2, 30, "the confirmed call", stack.logs)
        ran = tool_calls(hass, since)[1]
        assert ran["data"]["confirmation"] is True
        assert ran["data"]["result"]["response_type"] == "action_done", ran
        hass.wait_state(LOCK, lambda s: s == "unlocked", 10, "to be unlocked after the yes")
        wait_for(
            lambda: hass.state_of("assist_satellite.hall") == "idle", 30, "Hall idle", stack.logs
        )
        assert hass.integration_errors()[errors_before:] == []
    finally:
        if entry_id is not None:
            hass.remove_entry(entry_id)
        satellite.stop()
        standin.stop()
        hass.call("lock", "lock", entity_id=LOCK)
    assert standin.violations == []
