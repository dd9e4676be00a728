"""A satellite that refuses Home Assistant's access key: re-authentication through HA's flow list
(#12 defect 9), at set-up and when a running satellite comes back with another key."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.realtime_voice.const import CONF_ACCESS_KEY, CONF_API_KEY, DOMAIN
from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import ACCESS_KEY, LinkSatellite
from .link_timing import reconnect_quickly
from .waiting import load_entry, wait_until

NEW_KEY = "Wm4Tq8Zr2Xk6Pv0Ny3Lb7Hs1Dg5Fj9"  # what a reinstalled satellite generates


@pytest.fixture
def fast_reconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    reconnect_quickly(monkeypatch)


def reauth_flows(hass: HomeAssistant, entry: MockConfigEntry) -> list[dict[str, Any]]:
    """The re-authentication flows of ``entry`` in HA's flow list (what the UI shows)."""
    return [
        flow
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == "reauth" and flow["context"]["entry_id"] == entry.entry_id
    ]


async def complete_reauth(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """What the user does with the flow: a wrong key first, then the satellite's new key."""
    (flow,) = reauth_flows(hass, entry)
    assert flow["step_id"] == "pair"
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"],
        {CONF_ACCESS_KEY: "Rt5Yu7Io9Pa2Sd4Fg6Hj8Kl1Zx3Cv0"},  # strong, but not its key
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ACCESS_KEY: "invalid_access_key"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_ACCESS_KEY: NEW_KEY}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_ACCESS_KEY] == NEW_KEY


async def link_works(hass: HomeAssistant, satellite: LinkSatellite) -> None:
    await wait_until(lambda: hass.states.get("binary_sensor.kitchen_link").state == "on")
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.kitchen_mute"}, blocking=True
    )
    await wait_until(lambda: protocol.SetMute(muted=True) in satellite.commands)


async def test_satellite_back_with_another_key_starts_reauth_once(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    fast_reconnect: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    port = satellite.port
    await satellite.stop()
    satellite.access_key = NEW_KEY  # reinstalled with a new key
    await satellite.start(port)

    await wait_until(lambda: bool(reauth_flows(hass, entry)), within=10)
    # It went on retrying (HA's own debug line per refusal; the satellite rate-limits its log).
    refusals = "still refuses the access key"
    await wait_until(lambda: caplog.text.count(refusals) >= 3)
    assert hass.states.get("binary_sensor.kitchen_link").state == "off"
    assert "access key" in (entry.runtime_data.link.last_error or "")
    ours = [
        r
        for r in caplog.records
        if r.name.startswith("custom_components.realtime_voice") and "access key" in r.message
    ]
    assert [r.levelno for r in ours if r.levelno >= logging.WARNING] == [logging.ERROR]  # once
    assert len(reauth_flows(hass, entry)) == 1

    await complete_reauth(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    await link_works(hass, satellite)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_refused_key_at_setup_starts_reauth(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    satellite.access_key = NEW_KEY
    port = satellite.port
    await satellite.stop()
    await satellite.start(port)
    entry = entry_for(standin, satellite)  # still the old key
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "refused the access key" in entry.reason

    await complete_reauth(hass, entry)
    await wait_until(lambda: entry.state is ConfigEntryState.LOADED)
    await link_works(hass, satellite)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_reauth_refuses_another_satellite_and_an_unreachable_one(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """The address is the entry's: a different satellite there aborts; none there is an error."""
    entry = entry_for(standin, satellite, access_key="old-key")
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    (flow,) = reauth_flows(hass, entry)
    assert flow["step_id"] == "pair"

    port = satellite.port
    await satellite.stop()
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_ACCESS_KEY: ACCESS_KEY}
    )
    assert result["errors"] == {"base": "cannot_connect_satellite"}

    other = LinkSatellite(name="Office", satellite_id="office-0002")
    await other.start(port)
    try:
        result = await hass.config_entries.flow.async_configure(
            flow["flow_id"], {CONF_ACCESS_KEY: ACCESS_KEY}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_satellite"
        assert entry.data[CONF_ACCESS_KEY] == "old-key"
    finally:
        await other.stop()


async def test_api_key_revoked_while_running_asks_for_a_new_one(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """The user revokes (rotates) the OpenAI key while HA runs: the open session's reconnect is
    refused, so HA asks for a new key rather than retrying the dead one; the new key opens a session."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    standin.config.api_key = "sk-rotated-9876543210fedcba"
    standin.drop_connections()  # the session reconnects, with the old key

    await wait_until(lambda: bool(reauth_flows(hass, entry)))
    await hass.async_block_till_done()
    (flow,) = reauth_flows(hass, entry)
    assert flow["step_id"] == "reauth_confirm"
    refused = [c for c in standin.connections if c.refused == "invalid_api_key"]
    assert refused, "the reconnect was not refused"
    # Not retried with the dead key: the reconnect gave up at the first refusal, and the keeper's
    # new opener at its own (one each), not every backoff step.
    assert len([c for c in standin.connections if c.refused == "invalid_api_key"]) <= 2
    assert entry.runtime_data.manager.session is None

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: "sk-rotated-9876543210fedcba"}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_API_KEY] == "sk-rotated-9876543210fedcba"
    await wait_until(lambda: entry.runtime_data.manager.session is not None)
    assert hass.states.get("sensor.kitchen_model").state == "gpt-realtime"
    assert await hass.config_entries.async_unload(entry.entry_id)
