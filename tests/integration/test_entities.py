"""Entities, options, diagnostics, repairs and reconfigure of a loaded entry (real HA, real link)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from homeassistant.components.assist_satellite import AssistSatelliteConfiguration
from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator, WebSocketGenerator

from custom_components.realtime_voice.const import (
    CONF_ACCESS_KEY,
    CONF_API_KEY,
    CONF_AUTO_SELECT_VOICE,
    CONF_HOST,
    CONF_LEGACY_MODEL,
    CONF_MODEL,
    CONF_MODEL_SELECTION,
    CONF_PORT,
    CONF_VOICE,
    CONF_WAKE_WORDS,
    DOMAIN,
)
from custom_components.realtime_voice.repairs import async_check_model_shutdown
from realtime_voice_satellite.link import protocol
from tests.realtime_standin import StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import ACCESS_KEY, LinkSatellite
from .waiting import load_entry, wait_until


@pytest.fixture
async def loaded(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> MockConfigEntry:
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)


async def test_entities_have_names_categories_and_unique_ids(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    registry = er.async_get(hass)
    expected = {
        "assist_satellite.kitchen": None,
        "sensor.kitchen_model": "diagnostic",
        "sensor.kitchen_interface": "diagnostic",
        "sensor.kitchen_response_latency": "diagnostic",
        "sensor.kitchen_tokens": None,
        "sensor.kitchen_cost": None,
        "switch.kitchen_mute": None,
        "number.kitchen_volume": "config",
        "binary_sensor.kitchen_link": "diagnostic",
    }
    for entity_id, category in expected.items():
        entry = registry.async_get(entity_id)
        assert entry is not None, entity_id
        assert entry.unique_id.startswith("kitchen-0001-")
        assert (entry.entity_category.value if entry.entity_category else None) == category
        # only the response latency (a new state every answer) waits to be enabled
        disabled = entity_id == "sensor.kitchen_response_latency"
        assert (entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION) == disabled, entity_id
        assert (hass.states.get(entity_id) is None) == disabled, entity_id
    assert hass.states.get("sensor.kitchen_model").attributes["fallback"] is False
    assert hass.states.get("sensor.kitchen_cost").attributes["unit_of_measurement"] == "USD"
    assert hass.states.get("sensor.kitchen_tokens").attributes["state_class"] == "total_increasing"


async def test_mute_switch_and_volume_reach_the_satellite(
    hass: HomeAssistant, loaded: MockConfigEntry, satellite: LinkSatellite
) -> None:
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.kitchen_mute"}, blocking=True
    )
    await wait_until(lambda: hass.states.get("switch.kitchen_mute").state == "on")
    assert protocol.SetMute(muted=True) in satellite.commands
    await hass.services.async_call(
        "switch", "turn_off", {"entity_id": "switch.kitchen_mute"}, blocking=True
    )
    await wait_until(lambda: hass.states.get("switch.kitchen_mute").state == "off")

    await hass.services.async_call(
        "number", "set_value", {"entity_id": "number.kitchen_volume", "value": 35}, blocking=True
    )
    await wait_until(lambda: float(hass.states.get("number.kitchen_volume").state) == 35)
    assert satellite.info.volume == pytest.approx(0.35)


async def test_wake_word_configuration(
    hass: HomeAssistant, loaded: MockConfigEntry, satellite: LinkSatellite, standin: StandinServer
) -> None:
    entity = hass.data["entity_components"]["assist_satellite"].get_entity(
        "assist_satellite.kitchen"
    )
    config = entity.async_get_configuration()
    assert [w.id for w in config.available_wake_words] == ["hey_jarvis", "okay_nabu", "alexa"]
    assert config.available_wake_words[0].wake_word == "Hey Jarvis"
    assert config.active_wake_words == ["hey_jarvis"]

    await entity.async_set_configuration(
        AssistSatelliteConfiguration(config.available_wake_words, ["okay_nabu"], 0)
    )
    await wait_until(lambda: satellite.info.wake_words_active == ["okay_nabu"])
    assert loaded.options[CONF_WAKE_WORDS] == ["okay_nabu"]
    # Applied live: the entry was not reloaded (same session, no new Realtime connection).
    await hass.async_block_till_done()
    assert loaded.state is ConfigEntryState.LOADED
    assert len([c for c in standin.connections if c.refused is None]) == 1

    with pytest.raises(HomeAssistantError, match="not available"):
        await entity.async_set_configuration(
            AssistSatelliteConfiguration(config.available_wake_words, ["hey_siri"], 0)
        )


async def test_wake_word_picker_over_the_websocket(
    hass: HomeAssistant,
    hass_ws_client: WebSocketGenerator,
    loaded: MockConfigEntry,
    satellite: LinkSatellite,
) -> None:
    """What HA's UI does: read the configuration, then set two wake words (#12 defect 5: it was
    refused with "Maximum number of active wake words is 0")."""
    client = await hass_ws_client()
    await client.send_json_auto_id(
        {"type": "assist_satellite/get_configuration", "entity_id": "assist_satellite.kitchen"}
    )
    config = (await client.receive_json())["result"]
    assert config["max_active_wake_words"] == len(config["available_wake_words"]) == 3

    await client.send_json_auto_id(
        {
            "type": "assist_satellite/set_wake_words",
            "entity_id": "assist_satellite.kitchen",
            "wake_word_ids": ["okay_nabu", "alexa"],
        }
    )
    reply = await client.receive_json()
    assert reply["success"], reply
    await wait_until(lambda: satellite.info.wake_words_active == ["okay_nabu", "alexa"])
    assert loaded.options[CONF_WAKE_WORDS] == ["okay_nabu", "alexa"]


async def test_diagnostics_redact_secrets(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, loaded: MockConfigEntry
) -> None:
    assert await async_setup_component(hass, "diagnostics", {})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, loaded)
    text = repr(diagnostics)
    assert API_KEY not in text
    assert ACCESS_KEY not in text
    assert diagnostics["entry"]["data"][CONF_API_KEY] == "**REDACTED**"
    assert diagnostics["entry"]["data"][CONF_ACCESS_KEY] == "**REDACTED**"
    assert diagnostics["session"]["model"] == "gpt-realtime"
    assert diagnostics["link"]["available"] is True


async def test_options_flow(hass: HomeAssistant, loaded: MockConfigEntry) -> None:
    result = await hass.config_entries.options.async_init(loaded.entry_id)
    assert result["type"] is FlowResultType.FORM
    schema_keys = {str(key) for key in result["data_schema"].schema}
    assert {"voice", "instructions", "wake_words", "llm_hass_api", "tool_services"} <= schema_keys

    base = {
        CONF_MODEL_SELECTION: "legacy",
        CONF_MODEL: "gpt-realtime",
        CONF_LEGACY_MODEL: "gpt-4o-realtime-preview",
        CONF_VOICE: "cedar",
        "voice_fallback": "alloy",
        CONF_AUTO_SELECT_VOICE: False,
        "instructions": "Be brief.",
        CONF_WAKE_WORDS: ["hey_jarvis"],
        "wake_threshold": 0.6,
        "follow_up_seconds": 5,
        "llm_hass_api": ["assist"],
        "tool_services": ["light.turn_on"],
        "max_tool_calls_per_turn": 3,
        "tool_call_timeout": 5,
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], base)
    assert result["errors"] == {CONF_VOICE: "voice_unavailable"}
    assert "cedar" in result["description_placeholders"]["detail"]
    assert "gpt-4o-realtime-preview" in result["description_placeholders"]["detail"]

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**base, "tool_services": ["not a service"]}
    )
    assert result["errors"].get("tool_services") == "invalid_service"

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**base, CONF_AUTO_SELECT_VOICE: True, CONF_MODEL_SELECTION: "auto"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert loaded.options[CONF_VOICE] == "cedar"
    assert loaded.options["tool_services"] == ["light.turn_on"]
    # Saving reloads the entry: a new session with the new instructions.
    await wait_until(lambda: loaded.runtime_data.manager.session is not None)


async def test_options_only_the_satellite_applies_are_sent_without_reload(
    hass: HomeAssistant, loaded: MockConfigEntry, satellite: LinkSatellite, standin: StandinServer
) -> None:
    """Wake threshold and follow-up window: the options flow (an OptionsFlowWithReload) skips the
    reload and sends them to the satellite; the dangerous-services switch is shown without
    advanced mode (show_advanced_options is deprecated)."""

    async def save(changes: dict[str, Any]) -> None:
        result = await hass.config_entries.options.async_init(loaded.entry_id)
        assert "allow_dangerous_services" in {str(key) for key in result["data_schema"].schema}
        shown = {
            str(key): key.default()
            for key in result["data_schema"].schema
            if callable(getattr(key, "default", None))
        }
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], shown | changes
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()

    # the first save stores every option (the form's defaults for those the entry lacked)
    await save({})
    await wait_until(lambda: loaded.runtime_data.manager.session is not None)
    manager = loaded.runtime_data.manager
    connections = len([c for c in standin.connections if c.refused is None])

    await save({"wake_threshold": 0.7, "follow_up_seconds": 3})

    assert loaded.options["wake_threshold"] == 0.7
    await wait_until(lambda: satellite.info.threshold == 0.7 and satellite.info.follow_up_s == 3)
    # not reloaded: the same session manager, no new Realtime connection
    assert loaded.state is ConfigEntryState.LOADED
    assert loaded.runtime_data.manager is manager
    assert len([c for c in standin.connections if c.refused is None]) == connections


async def test_model_shutdown_repair_offers_the_successor(
    hass: HomeAssistant, loaded: MockConfigEntry
) -> None:
    issue_id = f"model_shutdown_{loaded.entry_id}_{CONF_LEGACY_MODEL}"
    # Today (2026-11) is within 90 days of gpt-realtime's shutdown (2027-01-20).
    async_check_model_shutdown(hass, loaded, today=date(2026, 11, 21))
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"model_shutdown_{loaded.entry_id}_model")
    assert issue is not None
    assert issue.translation_key == "model_shutdown_soon"
    assert issue.translation_placeholders["date"] == "2027-01-20"
    async_check_model_shutdown(hass, loaded, today=date(2027, 2, 1))
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"model_shutdown_{loaded.entry_id}_model")
    assert issue.translation_key == "model_shut_down"
    assert issue.severity is ir.IssueSeverity.ERROR
    async_check_model_shutdown(hass, loaded, today=date(2026, 1, 1))
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, f"model_shutdown_{loaded.entry_id}_model")
        is None
    )
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_reconfigure(
    hass: HomeAssistant, loaded: MockConfigEntry, satellite: LinkSatellite
) -> None:
    other = LinkSatellite(name="Office", satellite_id="office-0002")
    await other.start()
    try:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": loaded.entry_id}
        )
        assert result["step_id"] == "reconfigure"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_HOST: "127.0.0.1",
                CONF_PORT: satellite.port,
                CONF_ACCESS_KEY: "Zq8-another-strong-key-4f7Tx2",
            },
        )
        assert result["errors"] == {CONF_ACCESS_KEY: "invalid_access_key"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: 9, CONF_ACCESS_KEY: ACCESS_KEY}
        )
        assert result["errors"] == {"base": "cannot_connect_satellite"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_HOST: "127.0.0.1", CONF_PORT: other.port, CONF_ACCESS_KEY: ACCESS_KEY},
        )
        assert result["reason"] == "wrong_satellite"

        # The satellite moved to another port.
        port = satellite.port
        await satellite.stop()
        await satellite.start()
        assert satellite.port != port
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": loaded.entry_id}
        )
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_HOST: "127.0.0.1", CONF_PORT: satellite.port, CONF_ACCESS_KEY: ACCESS_KEY},
        )
        assert result["reason"] == "reconfigure_successful"
        await hass.async_block_till_done()
        assert loaded.data[CONF_PORT] == satellite.port
        await wait_until(lambda: hass.states.get("switch.kitchen_mute").state == "off")
    finally:
        await other.stop()


async def test_model_shutdown_fix_flow_switches_to_the_successor(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, loaded: MockConfigEntry
) -> None:
    assert await async_setup_component(hass, "repairs", {})
    async_check_model_shutdown(hass, loaded, today=date(2026, 11, 21))
    issue_id = f"model_shutdown_{loaded.entry_id}_model"
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await response.json()
    assert flow["step_id"] == "confirm"
    assert flow["description_placeholders"]["successor"] == "gpt-realtime-2.1"
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert loaded.options[CONF_MODEL] == "gpt-realtime-2.1"
    # The entry reloaded with the successor, which has no shutdown date: the issue is gone.
    await wait_until(lambda: loaded.runtime_data.manager.session is not None)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


async def test_model_shutdown_fix_flow_of_a_removed_entry_aborts(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    standin: StandinServer,
    satellite: LinkSatellite,
) -> None:
    """The satellite is deleted while its repair is open: fixing it says so and changes nothing."""
    loaded = entry_for(standin, satellite)
    await load_entry(hass, loaded)
    assert await async_setup_component(hass, "repairs", {})
    async_check_model_shutdown(hass, loaded, today=date(2026, 11, 21))
    issue_id = f"model_shutdown_{loaded.entry_id}_model"
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await response.json()
    assert flow["step_id"] == "confirm"
    assert await hass.config_entries.async_remove(loaded.entry_id)
    await hass.async_block_till_done()

    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    result = await response.json()
    assert result["type"] == "abort"
    assert result["reason"] == "entry_removed"
    assert hass.config_entries.async_get_entry(loaded.entry_id) is None


async def test_legacy_model_shutdown_fix_moves_to_the_ga_successor(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    standin: StandinServer,
    satellite: LinkSatellite,
) -> None:
    """The legacy field takes any model name; one with a shutdown date gets the repair too, and
    as its successor speaks the GA interface, the fix also makes it the model and selects "new"."""
    entry = entry_for(standin, satellite, legacy_model="gpt-realtime-mini")  # selection "auto"
    await load_entry(hass, entry)
    assert await async_setup_component(hass, "repairs", {})
    async_check_model_shutdown(hass, entry, today=date(2026, 11, 21))
    issue_id = f"model_shutdown_{entry.entry_id}_{CONF_LEGACY_MODEL}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["successor"] == "gpt-realtime-2.1-mini"
    client = await hass_client()
    response = await client.post(
        "/api/repairs/issues/fix", json={"handler": DOMAIN, "issue_id": issue_id}
    )
    flow = await response.json()
    response = await client.post(f"/api/repairs/issues/fix/{flow['flow_id']}", json={})
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()
    assert entry.options[CONF_LEGACY_MODEL] == "gpt-realtime-2.1-mini"
    assert entry.options[CONF_MODEL] == "gpt-realtime-2.1-mini"
    assert entry.options[CONF_MODEL_SELECTION] == "new"
    await wait_until(lambda: entry.runtime_data.manager.session is not None)
    assert hass.states.get("sensor.kitchen_model").state == "gpt-realtime-2.1-mini"
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert await hass.config_entries.async_unload(entry.entry_id)
