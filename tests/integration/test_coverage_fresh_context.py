"""Each conversation starts without the last one's context (what was said in the kitchen an hour ago
is not the model's to use), also when dropping that context right after the conversation failed."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant

from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import LinkSatellite, silence, tone
from .waiting import collect, load_entry, wait_until


def user_items(standin: StandinServer) -> list[int]:
    """How many user messages each live Realtime connection holds."""
    return [
        len([i for i in session["items"] if i.get("role") == "user"])
        for session in standin.sessions()
    ]


async def test_a_failed_context_reset_is_made_up_before_the_next_conversation(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = entry_for(standin, satellite, follow_up_seconds=1.0)
    await load_entry(hass, entry)
    ended = collect(hass, "realtime_voice_conversation_ended")

    await satellite.say(tone(0.8) + silence(1.0))
    await wait_until(lambda: user_items(standin) == [1])
    # The endpoint refuses new connections for a moment: the reset after this conversation (a new
    # connection without the context) fails.
    standin.config.models = frozenset()
    await wait_until(lambda: len(ended) == 1)
    await wait_until(lambda: "Could not reset the conversation of Kitchen" in caplog.text)
    assert [c.refused for c in standin.connections][-1] == "model_not_found"
    await standin.wait_live(1)  # the refused connection's closing handshake takes a moment
    assert user_items(standin) == [1]  # still the old connection, with the old context

    standin.config.models = None
    listens = satellite.commands.count(protocol.Listen())
    await satellite.say(tone(0.8) + silence(1.0))
    # In the follow-up window of the second conversation (answered, listening again): its
    # connection holds its own command only, not the first conversation's.
    await wait_until(lambda: satellite.commands.count(protocol.Listen()) > listens)
    await standin.wait_live(1)
    assert user_items(standin) == [1]
    await wait_until(lambda: len(ended) == 2)
    assert ended[1].data["user"] == ["What time is it?"]
    assert await hass.config_entries.async_unload(entry.entry_id)
