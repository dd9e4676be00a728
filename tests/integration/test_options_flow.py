"""The options flow as the UI drives it (HA's flow manager), with the satellite online and offline."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.realtime_voice.account import accounts
from custom_components.realtime_voice.const import (
    CONF_ACCOUNT,
    CONF_API_KEY,
    CONF_AUTO_SELECT_VOICE,
    CONF_URL,
    CONF_VOICE,
    CONF_WAKE_WORDS,
)
from custom_components.realtime_voice.options_flow import CONF_NEW_ACCOUNT
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite
from .options_form import nest, shown
from .waiting import load_entry, wait_until


async def save_shown_form(
    hass: HomeAssistant, entry: MockConfigEntry, changes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Open the options flow and submit what the form shows (its defaults and suggested values),
    as a user who only presses Submit does; ``changes`` are what the user edits."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    return await hass.config_entries.options.async_configure(
        result["flow_id"], nest(result, shown(result) | (changes or {}))
    )


async def test_options_can_be_saved_while_the_satellite_is_offline(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """#12 defect 6: with wake words stored and the satellite offline (HA started while it was
    off), the wake-word field offered no choices, so the stored ones were refused on save."""
    entry = entry_for(standin, satellite, wake_words=["okay_nabu", "alexa"])
    port = satellite.port
    await satellite.stop()
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY

    result = await save_shown_form(hass, entry, {"instructions": "Be brief."})
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    assert entry.options[CONF_WAKE_WORDS] == ["okay_nabu", "alexa"]
    assert entry.options["instructions"] == "Be brief."

    # The satellite comes back and gets the stored wake words.
    await satellite.start(port)
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    await wait_until(lambda: satellite.info.wake_words_active == ["okay_nabu", "alexa"])
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_stored_wake_word_the_satellite_no_longer_offers_can_be_saved(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """A stored wake word that the satellite dropped (a model removed from satellite.yaml) stays a
    choice, so the form still saves; the user can then deselect it."""
    entry = entry_for(standin, satellite, wake_words=["hey_jarvis"])
    await load_entry(hass, entry, wait_for_session=False)
    link = entry.runtime_data.link
    assert link.info is not None
    link.info = replace(link.info, wake_words_available=["okay_nabu"])

    result = await save_shown_form(hass, entry)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    result = await save_shown_form(hass, entry, {CONF_WAKE_WORDS: ["okay_nabu"]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()  # a save may reload the entry: let it finish first
    await wait_until(lambda: satellite.info.wake_words_active == ["okay_nabu"])
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_fixed_voice_every_selected_model_has_is_saved_and_used(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """Automatic voice choice off and a voice both the model and the legacy model offer ("alloy"):
    saved without complaint, and the reloaded session speaks with it."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    result = await save_shown_form(
        hass, entry, {CONF_AUTO_SELECT_VOICE: False, CONF_VOICE: "alloy"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    assert entry.options[CONF_VOICE] == "alloy"
    assert entry.options[CONF_AUTO_SELECT_VOICE] is False
    await hass.async_block_till_done()
    await wait_until(lambda: [s["voice"] for s in standin.sessions()] == ["alloy"])
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_one_satellite_moves_to_another_key(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """Another key for one satellite (another project, another endpoint): the model section's
    switch leads to the key form; the satellite gets an account of its own and opens its session
    there, and the first account keeps its other satellites."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    first = entry.account
    other_key = "sk-other-project-0123456789"
    async with StandinServer(StandinConfig(endpoint="ga", api_key=other_key)) as other:
        result = await save_shown_form(hass, entry, {CONF_NEW_ACCOUNT: True})
        assert result["step_id"] == "account"
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_API_KEY: API_KEY, CONF_URL: other.url}
        )
        assert result["errors"] == {"base": "invalid_auth"}
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_API_KEY: other_key, CONF_URL: other.url}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert CONF_ACCOUNT not in entry.options
        assert CONF_NEW_ACCOUNT not in entry.options
        await hass.async_block_till_done()
        (second,) = [account for account in accounts(hass) if account is not first]
        assert second.data[CONF_API_KEY] == other_key
        assert entry.data[CONF_ACCOUNT] == second.entry_id
        await wait_until(lambda: entry.runtime_data.manager.session is not None)
        assert [c.refused for c in other.connections][-1] is None

        # and back to the first account by choosing it
        result = await save_shown_form(hass, entry, {CONF_ACCOUNT: first.entry_id})
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        assert entry.data[CONF_ACCOUNT] == first.entry_id
        await wait_until(lambda: entry.runtime_data.manager.session is not None)
        assert await hass.config_entries.async_unload(entry.entry_id)
