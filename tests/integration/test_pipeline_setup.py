"""A satellite without an OpenAI key (#26 item 3): the config flow sets it up in pipeline mode with no
account, and what assumed an account (set-up, repairs, diagnostics, sensors, the options flow) copes
with none."""

from __future__ import annotations

from datetime import date

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir

from custom_components.realtime_voice.account import accounts
from custom_components.realtime_voice.const import (
    CONF_ACCOUNT,
    CONF_CONVERSATION_MODE,
    CONF_MODEL,
    DOMAIN,
    MODE_PIPELINE,
    MODE_REALTIME,
)
from custom_components.realtime_voice.diagnostics import async_get_config_entry_diagnostics
from custom_components.realtime_voice.pipeline_brain import PipelineBrain
from custom_components.realtime_voice.repairs import async_check_model_shutdown

from .link_satellite import LinkSatellite
from .options_form import nest, shown
from .test_config_flow import to_account_step


async def test_a_satellite_is_set_up_without_a_key_in_pipeline_mode(
    hass: HomeAssistant, satellite: LinkSatellite
) -> None:
    result = await to_account_step(hass, satellite)
    assert result["step_id"] == "account"
    # neither a key nor the pipeline: said so, on the key
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"api_key": "api_key_or_pipeline"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"pipeline_only": True}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert CONF_ACCOUNT not in entry.data
    assert entry.options[CONF_CONVERSATION_MODE] == MODE_PIPELINE
    assert accounts(hass) == []
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    manager = entry.runtime_data.manager
    assert isinstance(manager.brain, PipelineBrain)
    assert manager.keeper is None
    assert manager.session is None
    # no model in use: no repair about one (gpt-realtime shut down on 2027-01-20)
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_MODEL: "gpt-realtime"}
    )
    async_check_model_shutdown(hass, entry, today=date(2027, 2, 1))
    assert (
        ir.async_get(hass).async_get_issue(DOMAIN, f"model_shutdown_{entry.entry_id}_model") is None
    )
    # diagnostics and sensors show no account and no session
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["account"] is None
    assert diagnostics["session"]["model"] is None
    assert hass.states.get("sensor.kitchen_tokens").state == "0"
    # the device has the pipeline selects, as every Assist satellite
    assert hass.states.get("select.kitchen_assistant").state == "preferred"
    assert hass.states.get("select.kitchen_finished_speaking_detection").state == "default"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_switching_a_satellite_without_a_key_to_realtime_asks_for_one(
    hass: HomeAssistant, satellite: LinkSatellite
) -> None:
    result = await to_account_step(hass, satellite)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"pipeline_only": True}
    )
    entry = result["result"]
    await hass.async_block_till_done()

    form = await hass.config_entries.options.async_init(entry.entry_id)
    values = shown(form)
    assert values[CONF_CONVERSATION_MODE] == MODE_PIPELINE
    assert values[CONF_MODEL]  # the Realtime fields are there for a later switch
    result = await hass.config_entries.options.async_configure(
        form["flow_id"], nest(form, values | {CONF_CONVERSATION_MODE: MODE_REALTIME})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"conversation": "account_required"}
    # with a new key asked for, the flow goes on to the account step
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        nest(form, values | {CONF_CONVERSATION_MODE: MODE_REALTIME, "new_account": True}),
    )
    assert result["step_id"] == "account"
    # kept in pipeline mode, it saves as it is
    form = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        form["flow_id"], nest(form, shown(form))
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    assert entry.options[CONF_CONVERSATION_MODE] == MODE_PIPELINE
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
