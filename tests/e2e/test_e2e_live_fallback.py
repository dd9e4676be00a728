"""GPT-Live with the Assist pipeline as its fallback, end to end (issue #27 item 3): real hass with
loopback_speech's STT and TTS and HA's default agent, the satellite agent, the Live stand-in in its
no-access mode and the Realtime stand-in (SIMULATIONS of OpenAI's services) as processes.

A key without Live access on a Live satellite whose fallback is the pipeline: the command goes
through the pipeline after one wake word and turns the light on; no Realtime model is involved;
the pipeline fallback repair and sensor say `live_no_access`; the model sensor names the pipeline.
"""

from __future__ import annotations

import pytest

from .conftest import WORKDIR, MainStack
from .stack import DOMAIN, command_wav
from .test_e2e_fallback import (
    PIPELINE,
    events_of,
    events_so_far,
    expect_pipeline_answer,
    issues,
    use_test_pipeline,
)
from .test_e2e_live import LiveStandin
from .test_e2e_main import LIGHT, light_off

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_no_live_access_answers_through_the_pipeline(main_stack: MainStack) -> None:
    hass, stack = main_stack.hass, main_stack.stack
    use_test_pipeline(hass)
    hass.expose(LIGHT)
    light_off(main_stack)
    live = LiveStandin(WORKDIR, ["--access", "model_not_found"]).start()
    satellite = stack.satellite("Live pantry")
    since = events_so_far(hass)
    # 12 s: the config flow adds it and the options flow sets the mode (a reload) first
    satellite.start(command_wav(WORKDIR / "command-12s.wav", 12.0))
    entry_id = None
    try:
        entry_id = str(hass.add_satellite(satellite, main_stack.standin)["entry_id"])
        hass.set_options(
            entry_id,
            {
                "realtime": {"live_url": live.url},
                "conversation": {
                    "conversation_mode": "live",
                    "live_fallback": "pipeline",
                    "follow_up_seconds": 0,
                },
            },
        )
        hass.wait_state(f"assist_satellite.{satellite.slug}", lambda s: s == "idle", 10, "idle")
        expect_pipeline_answer(main_stack, satellite, since)
        assert events_of(hass, f"{DOMAIN}_tool_called", since) == []  # no Realtime model
        assert "model_not_found" in live.text()
        assert hass.state_of(f"sensor.{satellite.slug}_pipeline_fallback") == "live_no_access"
        assert hass.state_of(f"sensor.{satellite.slug}_model") == PIPELINE
        issue = issues(hass)[f"pipeline_fallback_{entry_id}"]
        assert issue["translation_key"] == "pipeline_fallback_live_no_access"
        assert f"live_no_access_{entry_id}" not in issues(hass)
    finally:
        if entry_id is not None:
            hass.remove_entry(entry_id)
        satellite.stop()
        live.stop()
