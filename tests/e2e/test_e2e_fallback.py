"""The Assist pipeline as the satellite's brain, end to end (issue #26 items 3 and 4): real hass with
a test-only speech-to-text and text-to-speech (loopback_speech/: the text the test sets, espeak-ng's
voice), HA's default conversation agent, the satellite agent and the stand-in Realtime server
(a SIMULATION of OpenAI's service) as processes.

Pipeline mode: a spoken command turns the kitchen light on through HA's default agent, and the TTS
answer reaches the satellite's speaker (its output WAV). Realtime with pipeline fallback: the
Realtime stand-in answers; it is stopped mid-day and the next command still works, through the
pipeline, after one wake word, while a repair and a sensor say why; the stand-in back, Realtime
answers again and the repair is gone.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import WORKDIR, MainStack
from .stack import DOMAIN, Hass, Satellite, command_wav, played, wait_for
from .test_e2e_main import LIGHT, light_off

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PIPELINE = "E2E speech"
COMMAND = "turn on the kitchen light"
HEARD = "loopback_speech_heard"  # loopback_speech's speech-to-text got an utterance


def use_test_pipeline(hass: Hass) -> None:
    """A pipeline of loopback_speech's STT and TTS and HA's default agent, as the preferred one (what
    a satellite's "Assistant" select follows by default)."""
    hass.wait_ready()  # every integration set up (the first test may come right after onboarding)
    listed = hass.ws_command("assist_pipeline/pipeline/list")
    found = [p["id"] for p in listed["pipelines"] if p["name"] == PIPELINE]
    if found:
        pipeline_id = found[0]
    else:
        pipeline_id = hass.ws_command(
            "assist_pipeline/pipeline/create",
            name=PIPELINE,
            language="en",
            conversation_engine="conversation.home_assistant",
            conversation_language="en",
            stt_engine="loopback_speech",
            stt_language="en",
            tts_engine="loopback_speech",
            tts_language="en",
            tts_voice=None,
            wake_word_entity=None,
            wake_word_id=None,
        )["id"]
    hass.ws_command("assist_pipeline/pipeline/set_preferred", pipeline_id=pipeline_id)
    hass.call("loopback_speech", "set_transcript", text=COMMAND)
    if not any(e["event_type"] == HEARD for e in hass.events):
        hass.ws_command("subscribe_events", event_type=HEARD)


def issues(hass: Hass) -> dict[str, dict[str, Any]]:
    listed = hass.ws_command("repairs/list_issues")["issues"]
    return {i["issue_id"]: i for i in listed if i["domain"] == DOMAIN}


def events_so_far(hass: Hass) -> int:
    """Where the events from now on start (those received but not read yet are before it)."""
    hass.pump_events()
    return len(hass.events)


def events_of(hass: Hass, kind: str, since: int) -> list[dict[str, Any]]:
    hass.pump_events()
    return [e for e in hass.events[since:] if e["event_type"] == kind]


def expect_pipeline_answer(main: MainStack, satellite: Satellite, since: int) -> None:
    """One wake word; the whole utterance to the pipeline's STT; the light on by HA's default
    agent; the TTS answer played at the satellite."""
    hass, logs = main.hass, main.stack.logs
    wake = hass.wait_event(f"{DOMAIN}_wake_word_detected", 45, since, logs)
    assert wake["data"]["satellite"] == satellite.name
    heard = hass.wait_event(HEARD, 30, since, logs)
    # "turn on the kitchen light" (espeak-ng: about 1.5 s) reached it, from the wake word on
    assert heard["data"]["audio_s"] >= 1.0, heard
    hass.wait_state(LIGHT, lambda s: s == "on", 20, "to be turned on by HA's default agent")
    assert satellite.output is not None
    output = satellite.output
    wait_for(lambda: played(output)[1] > 0.5, 30, f"the TTS answer in {output}", logs)
    ended = hass.wait_event(f"{DOMAIN}_conversation_ended", 30, since, logs)
    assert ended["data"]["reason"] == "done", ended
    assert ended["data"]["user"] == [COMMAND], ended
    assert len(events_of(hass, f"{DOMAIN}_wake_word_detected", since)) == 1


def test_pipeline_mode_turns_the_light_on_and_speaks_the_answer(main_stack: MainStack) -> None:
    hass, stack = main_stack.hass, main_stack.stack
    use_test_pipeline(hass)
    hass.expose(LIGHT)
    light_off(main_stack)
    satellite = stack.satellite("Pipeline hall")
    since = events_so_far(hass)
    # 12 s: the config flow adds it and the options flow sets the mode (a reload) first
    satellite.start(command_wav(WORKDIR / "command-12s.wav", 12.0))
    entry_id = None
    try:
        entry_id = hass.add_satellite(satellite, main_stack.standin)["entry_id"]
        hass.set_options(
            entry_id, {"conversation": {"conversation_mode": "pipeline", "follow_up_seconds": 0}}
        )
        hass.wait_state(f"assist_satellite.{satellite.slug}", lambda s: s == "idle", 10, "idle")
        expect_pipeline_answer(main_stack, satellite, since)
        assert events_of(hass, f"{DOMAIN}_tool_called", since) == []  # not the Realtime model
    finally:
        if entry_id is not None:
            hass.remove_entry(entry_id)
        satellite.stop()


def test_fallback_mode_answers_through_the_pipeline_while_realtime_is_down(
    main_stack: MainStack,
) -> None:
    hass, stack, standin = main_stack.hass, main_stack.stack, main_stack.standin
    use_test_pipeline(hass)
    hass.expose(LIGHT)
    light_off(main_stack)
    satellite = stack.satellite("Fallback den")
    sensor = f"sensor.{satellite.slug}_pipeline_fallback"
    since = events_so_far(hass)
    satellite.start(command_wav(WORKDIR / "command-12s.wav", 12.0))
    entry_id = None
    try:
        entry_id = hass.add_satellite(satellite, standin)["entry_id"]
        issue_id = f"pipeline_fallback_{entry_id}"
        hass.set_options(
            entry_id,
            {"conversation": {"conversation_mode": "realtime_fallback", "follow_up_seconds": 0}},
        )
        # Realtime answers while it is up: its tool call, not the pipeline's STT
        hass.wait_event(f"{DOMAIN}_tool_called", 45, since, stack.logs)
        hass.wait_state(LIGHT, lambda s: s == "on", 15, "to be turned on by the Realtime model")
        assert events_of(hass, HEARD, since) == []
        assert hass.state_of(sensor) == "off"
        hass.wait_state(f"assist_satellite.{satellite.slug}", lambda s: s == "idle", 30, "idle")

        # mid-day, the Realtime endpoint goes away
        standin.stop()
        light_off(main_stack)
        since = events_so_far(hass)
        satellite.start(command_wav(WORKDIR / "command-6s.wav", 6.0))
        hass.request("POST", f"/api/config/config_entries/entry/{entry_id}/reload")
        expect_pipeline_answer(main_stack, satellite, since)
        assert events_of(hass, f"{DOMAIN}_tool_called", since) == []
        assert hass.state_of(sensor) == "network"
        assert hass.state(sensor)["attributes"]["switches"] == 1  # type: ignore[index]
        issue = issues(hass)[issue_id]
        assert issue["translation_key"] == "pipeline_fallback_network"
        assert issue["severity"] == "warning"

        # the Realtime endpoint is back: the background probe finds it, Realtime answers again
        standin.start()
        hass.wait_state(sensor, lambda s: s == "off", 60, "to say that Realtime answers again")
        assert issue_id not in issues(hass)
        hass.wait_state(f"assist_satellite.{satellite.slug}", lambda s: s == "idle", 30, "idle")
        light_off(main_stack)
        since = events_so_far(hass)
        satellite.start(command_wav(WORKDIR / "command-6s.wav", 6.0))
        hass.request("POST", f"/api/config/config_entries/entry/{entry_id}/reload")
        hass.wait_event(f"{DOMAIN}_tool_called", 60, since, stack.logs)
        hass.wait_state(LIGHT, lambda s: s == "on", 15, "to be turned on by the Realtime model")
        assert events_of(hass, HEARD, since) == []
    finally:
        if standin.proc is None:
            standin.start()  # the other tests' endpoint
        if entry_id is not None:
            hass.remove_entry(entry_id)
        satellite.stop()
