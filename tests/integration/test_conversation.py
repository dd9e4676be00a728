"""A whole conversation and an announcement inside real HA, with the real satellite agent on WAV files.

The satellite hears a synthesized "hey jarvis ... turn on the kitchen light" (espeak-ng), detects the
wake word with openWakeWord, streams the command over the real link; HA streams it to the stand-in
Realtime server (a simulation validating every event against the openai types), which calls the Assist
API's HassTurnOn tool; HA runs it on a real template light and plays the spoken answer on the
satellite, whose speaker is a WAV file.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from realtime_voice_dev.corpus import espeak_available
from realtime_voice_satellite.agent.agent import SatelliteAgent
from realtime_voice_satellite.agent.audio_io import WavFileSink, WavFileSource
from realtime_voice_satellite.agent.build import build_agent
from realtime_voice_satellite.audio import read_wav
from tests.realtime_standin import StandinConfig, StandinServer, ToolScript
from tests.satellite.harness import KEY, SPEED, Script, config

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite
from .waiting import collect, load_entry, wait_until

pytestmark = [
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech"),
    pytest.mark.timeout(90),
]


@pytest.fixture
def standin_config() -> StandinConfig:
    return StandinConfig(
        endpoint="ga",
        api_key=API_KEY,
        transcript="Turn on the kitchen light.",
        tools=(ToolScript("HassTurnOn", {"name": "Kitchen light"}, "The kitchen light is on."),),
    )


@dataclass
class RunningAgent:
    agent: SatelliteAgent
    output: Path

    def played_seconds(self) -> float:
        if not self.output.exists():
            return 0.0
        samples, rate = read_wav(self.output)
        loud = np.abs(samples.astype(np.int32)) > 500
        return float(loud.sum()) / rate


@contextlib.asynccontextmanager
async def agent_on_wav(input_wav: Path, tmp_path: Path) -> AsyncIterator[RunningAgent]:
    output = tmp_path / "speaker.wav"
    agent = build_agent(
        config(), WavFileSource(input_wav, speed=SPEED), WavFileSink(output, 24_000, speed=SPEED)
    )
    await agent.start()
    try:
        yield RunningAgent(agent, output)
    finally:
        await agent.stop()


def entry_for_agent(standin: StandinServer, running: RunningAgent) -> MockConfigEntry:
    return entry_for(
        standin,
        port=running.agent.server.port,
        satellite_id=running.agent.satellite_id,
        access_key=KEY,
        title="Test satellite",
    )


@pytest.mark.usefixtures("entities_enabled")
async def test_spoken_command_turns_on_the_light(
    hass: HomeAssistant, tmp_path: Path, standin: StandinServer, kitchen_light: str
) -> None:
    script = (
        Script()
        .pause(8.0)  # HA connects within this (4 s at the test speed) before the wake word
        .say("hey jarvis", "wake")
        .pause(0.1)
        .say("turn on the kitchen light", "command")
        .pause(1.0)
    )
    wakes = collect(hass, "realtime_voice_wake_word_detected")
    tools = collect(hass, "realtime_voice_tool_called")
    ended = collect(hass, "realtime_voice_conversation_ended")
    assert hass.states.get(kitchen_light).state == "off"

    async with agent_on_wav(script.write("ha-kitchen-light"), tmp_path) as running:
        entry = entry_for_agent(standin, running)
        await load_entry(hass, entry, wait_for_session=False)

        await wait_until(lambda: bool(wakes), within=30)
        assert wakes[0].data["wake_word"] == "hey_jarvis"
        await wait_until(lambda: hass.states.get(kitchen_light).state == "on", within=30)
        await wait_until(lambda: bool(ended), within=30)

        # HA's own name for it: HassTurnOn up to 2026.5, intent__HassTurnOn from 2026.10
        assert tools[0].data["name"] in {"HassTurnOn", "intent__HassTurnOn"}
        assert ended[0].data["user"] == ["Turn on the kitchen light."]
        assert ended[0].data["assistant"][-1] == "The kitchen light is on."
        assert ended[0].data["tool_calls"] == 1
        assert running.played_seconds() > 0.5  # the spoken answer reached the speaker
        assert hass.states.get("assist_satellite.test_satellite").state == "idle"
        assert float(hass.states.get("sensor.test_satellite_tokens").state) > 0
        assert float(hass.states.get("sensor.test_satellite_cost").state) > 0
        assert float(hass.states.get("sensor.test_satellite_response_latency").state) >= 0
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_announcement_plays_on_the_satellite(
    hass: HomeAssistant, tmp_path: Path, standin: StandinServer
) -> None:
    silence = Script().pause(1.0).write("ha-silence")
    async with agent_on_wav(silence, tmp_path) as running:
        entry = entry_for_agent(standin, running)
        await load_entry(hass, entry)
        items_before = len(standin.sessions()[-1]["items"])

        await hass.services.async_call(
            "assist_satellite",
            "announce",
            {"message": "The washing machine has finished."},
            target={"entity_id": "assist_satellite.test_satellite"},
            blocking=True,
        )
        # Returned after playback: the chime and the model's speech are in the speaker's file.
        assert running.played_seconds() > 0.5
        # Out of band: the announcement did not enter the conversation.
        assert len(standin.sessions()[-1]["items"]) == items_before
        assert hass.states.get("assist_satellite.test_satellite").state == "idle"
        assert await hass.config_entries.async_unload(entry.entry_id)


async def test_announce_on_an_offline_satellite_fails_fast(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    from homeassistant.exceptions import HomeAssistantError

    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    manager = entry.runtime_data.manager
    await satellite.stop()
    await wait_until(lambda: not entry.runtime_data.link.available)
    with pytest.raises(HomeAssistantError, match="offline"):
        await manager.async_announce("Hello")
    assert await hass.config_entries.async_unload(entry.entry_id)
