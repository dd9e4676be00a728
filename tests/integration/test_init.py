"""Setting up and unloading an entry; the link going down and coming back; refused keys."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr

from custom_components.realtime_voice.const import (
    CONF_API_KEY,
    CONF_WAKE_THRESHOLD,
    DOMAIN,
)
from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import ACCESS_KEY, LinkSatellite, silence, tone
from .options_form import fields, nest, shown
from .waiting import load_entry, wait_until


async def test_setup_and_unload(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    assert entry.state is ConfigEntryState.LOADED

    registry = dr.async_get(hass)
    if hasattr(registry, "async_get_device_by_identifier"):  # HA 2026.10+
        device = registry.async_get_device_by_identifier((DOMAIN, "kitchen-0001"), entry.entry_id)
    else:  # 2026.5; async_get_device reports an error from 2026.10
        device = registry.async_get_device(identifiers={(DOMAIN, "kitchen-0001")})
    assert device is not None
    assert device.name == "Kitchen"
    assert device.sw_version == "0.1.0"
    assert hass.states.get("assist_satellite.kitchen").state == "idle"

    # The Realtime session is opened and kept warm in the background.
    manager = entry.runtime_data.manager
    await wait_until(lambda: manager.session is not None)
    assert hass.states.get("sensor.kitchen_model").state == "gpt-realtime"
    assert hass.states.get("sensor.kitchen_interface").state == "ga"
    assert standin.live_connections == 1

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    await wait_until(lambda: standin.live_connections == 0)
    await wait_until(lambda: not satellite.connected_event.is_set())


async def test_unreachable_satellite_is_retried(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    port = satellite.port
    await satellite.stop()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "unreachable" in (entry.reason or "")
    await satellite.start(port)  # reachable again for the next test's cleanliness


async def test_refused_api_key_starts_reauth(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    entry.add_to_hass(hass)
    account = entry.account
    hass.config_entries.async_update_entry(
        account, data={**account.data, CONF_API_KEY: "sk-revoked"}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    # The account's re-authentication (the key is its), listed as soon as it starts; its first
    # step (step_id) a moment later.
    await wait_until(
        lambda: any("step_id" in f for f in account.async_get_active_flows(hass, {"reauth"}))
    )
    assert list(entry.async_get_active_flows(hass, {"reauth"})) == []
    flow = next(iter(account.async_get_active_flows(hass, {"reauth"})))
    assert flow["step_id"] == "reauth_confirm"
    assert hass.states.get("sensor.kitchen_model").state == "unknown"

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: "sk-still-wrong"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_API_KEY: "sk-test-0123456789abcdef"}
    )
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert account.data[CONF_API_KEY] == "sk-test-0123456789abcdef"
    await wait_until(lambda: entry.runtime_data.manager.session is not None)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_link_drop_makes_entities_unavailable_until_it_returns(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    assert hass.states.get("switch.kitchen_mute").state == "off"
    assert hass.states.get("binary_sensor.kitchen_link").state == "on"

    port = satellite.port
    await satellite.stop()  # the satellite restarts
    await wait_until(lambda: hass.states.get("switch.kitchen_mute").state == STATE_UNAVAILABLE)
    assert hass.states.get("assist_satellite.kitchen").state == STATE_UNAVAILABLE
    assert hass.states.get("binary_sensor.kitchen_link").state == "off"

    await satellite.start(port)
    await wait_until(lambda: hass.states.get("switch.kitchen_mute").state == "off", within=20)
    assert hass.states.get("binary_sensor.kitchen_link").state == "on"
    assert entry.runtime_data.link.reconnects == 1
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_restarted_satellite_gets_its_settings_back(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite, wake_words=["okay_nabu"], wake_threshold=0.7)
    await load_entry(hass, entry, wait_for_session=False)
    await wait_until(lambda: satellite.info.wake_words_active == ["okay_nabu"])

    port = satellite.port
    await satellite.stop()
    # It comes back with the defaults of its YAML file.
    satellite.info = replace(satellite.info, wake_words_active=["hey_jarvis"], threshold=0.5)
    await satellite.start(port)
    await wait_until(lambda: satellite.info.wake_words_active == ["okay_nabu"], within=20)
    assert satellite.info.threshold == 0.7
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_options_are_sent_to_the_satellite(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite, wake_words=["okay_nabu"], wake_threshold=0.7)
    await load_entry(hass, entry, wait_for_session=False)
    await wait_until(lambda: satellite.info.wake_words_active == ["okay_nabu"])
    assert satellite.info.threshold == 0.7
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_clearing_the_threshold_in_ha_gives_the_satellite_its_own_back(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """HA's threshold is optional: cleared in the options flow, the satellite returns to its own
    (satellite.yaml, else each model's recommendation) at once, without a restart."""
    satellite.own_threshold = 0.35
    entry = entry_for(standin, satellite, wake_threshold=0.7)
    await load_entry(hass, entry, wait_for_session=False)
    await wait_until(lambda: satellite.info.threshold == 0.7)

    flow = await hass.config_entries.options.async_init(entry.entry_id)
    threshold_key = fields(flow)[CONF_WAKE_THRESHOLD]
    assert threshold_key.description == {"suggested_value": 0.7}
    answers = shown(flow)
    answers.pop(CONF_WAKE_THRESHOLD)  # the user empties the field
    result = await hass.config_entries.options.async_configure(flow["flow_id"], nest(flow, answers))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_WAKE_THRESHOLD not in entry.options
    await wait_until(lambda: satellite.info.threshold == 0.35)
    (configure,) = [c for c in satellite.commands if isinstance(c, protocol.Configure)][-1:]
    assert configure.own_threshold is True
    assert configure.threshold is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_secrets_never_reach_the_log(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # websockets logs handshake headers and frames at DEBUG
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    await satellite.say(tone(0.6) + silence(1.0))
    await wait_until(lambda: any(isinstance(c, protocol.PlayStart) for c in satellite.commands))
    assert API_KEY not in repr(entry.runtime_data.link)
    assert API_KEY not in repr(entry.runtime_data.manager.session)
    assert await hass.config_entries.async_unload(entry.entry_id)
    # Everything but the stand-in's own log (it plays OpenAI's side and sees the key).
    ours = "\n".join(
        r.getMessage() for r in caplog.records if not r.name.startswith("tests.realtime_standin")
    )
    assert "Authorization" in ours  # the headers were logged, and
    assert API_KEY not in ours  # the key was not
    assert ACCESS_KEY not in ours


async def test_failed_setup_closes_the_link(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A set-up that fails after the link is up (here the session manager cannot start) leaves no
    link behind: the satellite is free for the retry."""

    async def cannot_start(self: object) -> None:
        raise RuntimeError("the session manager cannot start")

    monkeypatch.setattr("custom_components.realtime_voice.SessionManager.async_start", cannot_start)
    entry = entry_for(standin, satellite)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    await wait_until(lambda: not satellite.connected_event.is_set())
    assert standin.live_connections == 0
