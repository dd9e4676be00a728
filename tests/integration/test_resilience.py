"""What goes wrong around a running satellite: the Realtime endpoint down at start (a satellite that
comes back with another access key: test_reauth.py; media that cannot be played: test_announcements.py)."""

from __future__ import annotations

import pytest
from homeassistant.core import HomeAssistant

from tests.helpers.network import free_port
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite
from .waiting import load_entry, wait_until


async def test_realtime_endpoint_down_at_start_is_retried(
    hass: HomeAssistant, satellite: LinkSatellite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "custom_components.realtime_voice.session_keeper.SESSION_RETRY_INITIAL_S", 0.2
    )
    monkeypatch.setattr("custom_components.realtime_voice.session_keeper.SESSION_RETRY_MAX_S", 0.2)
    port = free_port()
    standin = StandinServer(StandinConfig(endpoint="ga", api_key=API_KEY), port=port)
    entry = entry_for(standin, satellite, url=f"ws://127.0.0.1:{port}/v1/realtime")
    await load_entry(hass, entry, wait_for_session=False)
    # The satellite works without the model; the model sensor says nothing yet.
    assert hass.states.get("switch.kitchen_mute").state == "off"
    assert hass.states.get("sensor.kitchen_model").state == "unknown"
    async with standin:
        await wait_until(lambda: entry.runtime_data.manager.session is not None)
        assert hass.states.get("sensor.kitchen_model").state == "gpt-realtime"
        assert await hass.config_entries.async_unload(entry.entry_id)
