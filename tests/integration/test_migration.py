"""Entries of version 1 (each satellite held its own OpenAI key and endpoint) become version 2: one
account per distinct key and endpoint, which the satellites name, and they keep working."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.realtime_voice.account import accounts
from custom_components.realtime_voice.const import (
    CONF_ACCESS_KEY,
    CONF_ACCOUNT,
    CONF_API_KEY,
    CONF_HOST,
    CONF_MODEL,
    CONF_PORT,
    CONF_SATELLITE_ID,
    CONF_URL,
    CONF_VOICE,
    DOMAIN,
)
from tests.realtime_standin import StandinServer

from .conftest import API_KEY
from .link_satellite import ACCESS_KEY, LinkSatellite
from .waiting import wait_until

OTHER_KEY = "sk-other-project-0123456789"


def version_1_entry(
    title: str, satellite_id: str, port: int, api_key: str, url: str
) -> MockConfigEntry:
    """An entry as the config flow of version 1 made it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=title,
        unique_id=satellite_id,
        version=1,
        data={
            CONF_API_KEY: api_key,
            CONF_URL: url,
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            CONF_ACCESS_KEY: ACCESS_KEY,
            CONF_SATELLITE_ID: satellite_id,
        },
        options={CONF_MODEL: "gpt-realtime", CONF_VOICE: "cedar"},
    )


async def test_keys_move_to_one_account_per_distinct_key(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    kitchen = version_1_entry(
        "Kitchen", satellite.satellite_id, satellite.port, API_KEY, standin.url
    )
    # two more satellites, not running (their set-up is retried; the migration comes first)
    office = version_1_entry("Office", "office-0002", 1, API_KEY, standin.url)
    pantry = version_1_entry("Pantry", "pantry-0003", 1, OTHER_KEY, standin.url)
    for entry in (kitchen, office, pantry):
        entry.add_to_hass(hass)

    # as at start-up: every entry of the domain set up at once (they migrate concurrently)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()

    found = accounts(hass)
    assert len(found) == 2
    by_key = {account.data[CONF_API_KEY]: account for account in found}
    assert set(by_key) == {API_KEY, OTHER_KEY}
    for entry, key in ((kitchen, API_KEY), (office, API_KEY), (pantry, OTHER_KEY)):
        assert entry.version == 2
        assert entry.minor_version == 1
        assert CONF_API_KEY not in entry.data
        assert CONF_URL not in entry.data
        assert entry.data[CONF_ACCOUNT] == by_key[key].entry_id
        assert entry.data[CONF_ACCESS_KEY] == ACCESS_KEY  # nothing else lost
        assert entry.options[CONF_VOICE] == "cedar"
    for account in found:
        assert account.data[CONF_URL] == standin.url
        assert account.state is ConfigEntryState.LOADED
    assert len({account.title for account in found}) == 2

    # the satellite that runs keeps working, with the key from its account
    assert kitchen.state is ConfigEntryState.LOADED
    await wait_until(lambda: kitchen.runtime_data.manager.session is not None)
    assert hass.states.get("sensor.kitchen_model").state == "gpt-realtime"
    assert office.state is ConfigEntryState.SETUP_RETRY
    assert pantry.state is ConfigEntryState.SETUP_RETRY
    assert await hass.config_entries.async_unload(kitchen.entry_id)


async def test_an_entry_of_a_newer_release_is_left_alone(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="Future", version=3, data={})
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.version == 3
