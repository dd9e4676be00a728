"""Helpers for tests whose outcome comes from background tasks (link, session): set up an entry,
wait for a condition, collect events."""

from __future__ import annotations

from homeassistant.core import Event, HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from tests.helpers.waiting import wait_until

__all__ = ["collect", "load_entry", "wait_until"]


async def load_entry(
    hass: HomeAssistant, entry: MockConfigEntry, *, wait_for_session: bool = True
) -> None:
    """Add and set up ``entry``; by default also wait until its Realtime session is open."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    if wait_for_session:
        await wait_until(lambda: entry.runtime_data.manager.session is not None)


def collect(hass: HomeAssistant, event_type: str) -> list[Event]:
    """Every ``event_type`` event fired from now on."""
    events: list[Event] = []
    hass.bus.async_listen(event_type, events.append)
    return events
