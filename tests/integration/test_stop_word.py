"""A stop word inside real HA: the satellite reports ``stop_word`` and ``playback_stopped(stop_word)``;
the session manager cancels and truncates the answer and ends the conversation without listening;
an announcement just stops. The link-level satellite gives deterministic timing; the last test runs
the real agent on a WAV file that says the stop word while the answer plays.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from homeassistant.core import HomeAssistant

from realtime_voice_dev.corpus import espeak_available
from realtime_voice_satellite.agent.audio_io import WavFileSink, WavFileSource
from realtime_voice_satellite.agent.build import build_agent
from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinConfig, StandinServer
from tests.satellite.harness import KEY, SPEED, Script, config

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .waiting import collect, load_entry, wait_until

SATELLITE = "assist_satellite.kitchen"

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def standin_config() -> StandinConfig:
    # Slow audio deltas so that the answer is still playing (and generating) at the stop word.
    return StandinConfig(endpoint="ga", api_key=API_KEY, delta_interval=0.05, delta_ms=100)


async def test_stop_word_truncates_and_ends_the_conversation_without_listening(
    hass: HomeAssistant, standin: StandinServer
) -> None:
    satellite = LinkSatellite(finish_playback=False)
    await satellite.start()
    try:
        entry = entry_for(standin, satellite, follow_up_seconds=5.0)
        await load_entry(hass, entry)
        manager = entry.runtime_data.manager
        ended = collect(hass, "realtime_voice_conversation_ended")
        started = collect(hass, "realtime_voice_conversation_started")
        await satellite.say(tone(0.8) + silence(1.0))
        await wait_until(lambda: any(len(v) > 4800 for v in satellite.played.values()))
        assert hass.states.get(SATELLITE).state == "responding"
        connections_before = len(standin.connections)

        stream_id = await satellite.stop_word(played_ms=100)
        assert stream_id is not None
        await wait_until(lambda: bool(ended))
        assert ended[0].data["reason"] == "stop_word"
        assert len(started) == 1  # no new conversation (a barge-in would start listening)
        assert standin.received_of("response.cancel")  # the answer was still being generated
        (truncate,) = standin.received_of("conversation.item.truncate")
        assert truncate["audio_end_ms"] == 100
        assert truncate["content_index"] == 0
        assert hass.states.get(SATELLITE).state == "idle"
        assert manager.conversation is None
        # The context is dropped after the truncation, for the next wake word.
        await wait_until(lambda: len(standin.connections) > connections_before)
        # No follow-up: the satellite is never asked to listen, and stays idle.
        await asyncio.sleep(0.5)
        assert not any(isinstance(c, protocol.Listen) for c in satellite.commands)
        assert hass.states.get(SATELLITE).state == "idle"
        assert manager.state == "idle"
        # Audio still arriving for the cancelled answer is not sent on.
        frames = len(satellite.played[stream_id])
        await asyncio.sleep(0.3)
        assert len(satellite.played[stream_id]) == frames

        # The next wake word starts a fresh conversation as usual.
        await satellite.say(tone(0.8) + silence(1.0))
        await wait_until(lambda: len(started) == 2)
        await manager.async_stop_conversation()
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await satellite.stop()


async def test_stop_word_during_start_conversation_stops_without_listening(
    hass: HomeAssistant, standin: StandinServer
) -> None:
    satellite = LinkSatellite(finish_playback=False)
    await satellite.start()
    try:
        entry = entry_for(standin, satellite)
        await load_entry(hass, entry)
        started = collect(hass, "realtime_voice_conversation_started")
        call = hass.async_create_task(
            hass.services.async_call(
                "assist_satellite",
                "start_conversation",
                {"start_message": "Shall I lock the back door?", "preannounce": False},
                target={"entity_id": SATELLITE},
                blocking=True,
            )
        )
        await wait_until(lambda: any(len(v) > 4800 for v in satellite.played.values()))
        assert hass.states.get(SATELLITE).state == "responding"
        stream_id = await satellite.stop_word(played_ms=120)
        assert stream_id is not None
        assert stream_id.startswith("announce-")
        async with asyncio.timeout(5):
            await call  # the announcement ends at once, without an error
        assert hass.states.get(SATELLITE).state == "idle"
        await asyncio.sleep(0.3)
        assert not started
        assert not any(isinstance(c, protocol.Listen) for c in satellite.commands)
        assert not standin.received_of(
            "conversation.item.truncate"
        )  # nothing of it is in the context
        assert hass.states.get(SATELLITE).state == "idle"
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await satellite.stop()


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech")
@pytest.mark.parametrize(
    "standin_config",
    [
        StandinConfig(
            endpoint="ga",
            api_key=API_KEY,
            transcript="Tell me about the weather.",
            reply=" ".join(["Here is a long answer about the weather and the news."] * 8),
        )
    ],
)
async def test_real_agent_stop_word_ends_the_conversation(
    hass: HomeAssistant, standin: StandinServer, tmp_path
) -> None:
    """The satellite hears "alexa" (its stop word) while it speaks: HA truncates and ends."""
    script = (
        Script()
        .pause(1.5)
        .say("hey jarvis")
        .pause(0.1)
        .say("what is the weather like")
        .pause(4.0)
        .say("alexa", "stop")
        .pause(4.0)
    )
    cfg = config(
        wake_word={
            "models": ["hey_jarvis"],
            "threshold": 0.5,
            "trigger_level": 1,
            "barge_in_threshold": 0.8,
            "warmup_s": 1.0,
            "stop_words": ["alexa"],
        }
    )
    output = tmp_path / "speaker.wav"
    agent = build_agent(
        cfg,
        WavFileSource(script.write("ha-stop-word"), speed=SPEED),
        WavFileSink(output, 24_000, speed=SPEED),
    )
    await agent.start()
    try:
        entry = entry_for(
            standin,
            port=agent.server.port,
            satellite_id=agent.satellite_id,
            access_key=KEY,
            title="Test satellite",
            follow_up_seconds=5.0,
        )
        await load_entry(hass, entry)
        ended = collect(hass, "realtime_voice_conversation_ended")
        await wait_until(lambda: bool(ended), within=40)
        assert ended[0].data["reason"] == "stop_word"
        # HA ends the conversation as it sends the truncate: the stand-in may read it just after
        await wait_until(lambda: bool(standin.received_of("conversation.item.truncate")))
        (truncate,) = standin.received_of("conversation.item.truncate")
        assert truncate["audio_end_ms"] > 0
        assert hass.states.get("assist_satellite.test_satellite").state == "idle"
        await asyncio.sleep(1.0)
        assert agent.listening is None
        assert agent.link_info().state == "idle"
        samples = np.zeros(0)
        if output.exists():
            from realtime_voice_satellite.audio import read_wav

            samples, _ = read_wav(output)
        # the answer stopped where HA truncated it (the chime plays first, then the answer)
        assert len(samples) / 24.0 >= truncate["audio_end_ms"]
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await agent.stop()


@pytest.mark.parametrize("standin_config", [StandinConfig(endpoint="ga", api_key=API_KEY)])
async def test_a_spoken_announcement_leaves_no_playback_behind(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """Its response id is dropped with it: the next conversation's answer is followed up."""
    entry = entry_for(standin, satellite, follow_up_seconds=1.0)
    await load_entry(hass, entry)
    manager = entry.runtime_data.manager
    await hass.services.async_call(
        "assist_satellite",
        "announce",
        {"message": "Dinner is ready.", "preannounce": False},
        target={"entity_id": SATELLITE},
        blocking=True,
    )
    assert not manager.playbacks
    await satellite.say(tone(0.8) + silence(1.0))
    await wait_until(lambda: protocol.Listen() in satellite.commands)
    await manager.async_stop_conversation()
