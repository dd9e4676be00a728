"""The Realtime brain behind the conversation engine (issue #26), where the engine's own tests
(tests/core/test_conversation_engine.py, with a fake brain) cannot reach: against the stand-in."""

from __future__ import annotations

from homeassistant.core import HomeAssistant

from custom_components.realtime_voice.core.realtime import events as rt
from custom_components.realtime_voice.core.realtime.metrics import ResponseMetrics, Usage
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite
from .waiting import load_entry

MESSAGE = "The washing machine has finished."


async def test_an_announcement_is_spoken_whole_past_an_earlier_ones_late_end(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """An announcement the user stopped leaves its out-of-band response running at the service; its
    end, arriving while the next announcement is spoken, must not cut that one short."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    brain = entry.runtime_data.manager.brain
    whole = b"".join([pcm async for pcm in brain.speak(MESSAGE)])
    assert len(whole) > 24_000  # more than half a second of speech

    speech = brain.speak(MESSAGE)
    heard = [await anext(speech)]
    late_end = rt.ResponseDone(
        "resp_of_the_stopped_one",
        "completed",
        Usage(),
        0.0,
        True,
        ResponseMetrics("resp_of_the_stopped_one", None, 0.0, 0, 0.0),
    )
    await brain._on_realtime_event(late_end)
    heard += [pcm async for pcm in speech]
    assert len(b"".join(heard)) == len(whole)
