"""From the wake word to the model (#12 defect 14): the user's audio is forwarded at once (the toolset
is refreshed beside it, not before it), and a session that cannot open is heard as an error tone."""

from __future__ import annotations

import asyncio
import time

import pytest
from homeassistant.core import HomeAssistant

from realtime_voice_satellite.link import protocol
from tests.helpers.network import free_port
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .waiting import collect, load_entry, wait_until


async def test_audio_reaches_the_model_while_the_toolset_is_rebuilt(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    from custom_components.realtime_voice import tools

    build = tools.async_build_toolset

    async def slow_build(*args: object, **kwargs: object) -> tools.Toolset:
        await asyncio.sleep(2.0)  # a large house: the Assist prompt and a scan of every state
        return await build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(
        "custom_components.realtime_voice.description.async_build_toolset", slow_build
    )
    ended = collect(hass, "realtime_voice_conversation_ended")
    woke = time.monotonic()
    await satellite.say(tone(0.8) + silence(1.0))
    await wait_until(lambda: bool(standin.received_of("input_audio_buffer.append")), within=5)
    assert time.monotonic() - woke < 1.0, "the user's audio waited for the toolset"
    # The conversation goes on as usual while the toolset is rebuilt.
    await wait_until(lambda: bool(ended), within=10)
    assert ended[0].data["assistant"] == ["It is twelve o'clock."]


async def test_a_session_that_cannot_open_is_heard(
    hass: HomeAssistant, satellite: LinkSatellite
) -> None:
    port = free_port()  # nothing listens there: the Realtime endpoint is down
    standin = StandinServer(StandinConfig(endpoint="ga", api_key=API_KEY), port=port)
    entry = entry_for(standin, satellite, url=f"ws://127.0.0.1:{port}/v1/realtime")
    await load_entry(hass, entry, wait_for_session=False)
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(0.5))
    await wait_until(lambda: bool(ended), within=20)
    assert ended[0].data["reason"].startswith("error")
    chimes = [
        c for c in satellite.commands if isinstance(c, protocol.PlayStart) and c.kind == "chime"
    ]
    assert len(chimes) == 1, satellite.commands
    assert len(satellite.played[chimes[0].stream_id]) > 0.2 * 48_000  # an audible tone
    assert protocol.StopListening() in satellite.commands
    assert hass.states.get("assist_satellite.kitchen").state == "idle"
