"""Config flow: the satellite's address and access key against a real link, then the OpenAI key (only
when no account holds one) against the stand-in Realtime server."""

from __future__ import annotations

import contextlib
import json
from ipaddress import ip_address
from urllib.parse import urlsplit

import pytest
from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from custom_components.realtime_voice.account import accounts
from custom_components.realtime_voice.const import (
    CONF_ACCESS_KEY,
    CONF_ACCOUNT,
    CONF_API_KEY,
    CONF_HOST,
    CONF_MODEL,
    CONF_MODEL_SELECTION,
    CONF_PORT,
    CONF_URL,
    CONF_VOICE,
    DEFAULT_MODEL,
    DOMAIN,
)
from custom_components.realtime_voice.core.realtime.registry import lookup
from custom_components.realtime_voice.pairing import CONF_CODE
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import API_KEY, account_for, entry_for
from .link_satellite import ACCESS_KEY, LinkSatellite
from .waiting import load_entry, wait_until

WRONG_KEY = "Zq8-another-strong-key-4f7Tx2"  # strong enough, but not the satellite's


def api_input(standin: StandinServer, **changes: str) -> dict[str, str]:
    """What the user types into the account step."""
    return {CONF_API_KEY: API_KEY, CONF_URL: standin.url, **changes}


async def start_user_flow(hass: HomeAssistant) -> dict:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )


async def to_pair_step(hass: HomeAssistant, port: int, host: str = "127.0.0.1") -> dict:
    """A flow by hand up to the access key: the address first."""
    result = await start_user_flow(hass)
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: host, CONF_PORT: port}
    )


async def to_account_step(hass: HomeAssistant, satellite: LinkSatellite) -> dict:
    result = await to_pair_step(hass, satellite.port)
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_KEY: ACCESS_KEY}
    )


def schema_names(result: dict) -> list[str]:
    return [str(key) for key in result["data_schema"].schema]


async def test_the_first_form_asks_only_the_address(hass: HomeAssistant) -> None:
    result = await start_user_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert schema_names(result) == [CONF_HOST, CONF_PORT]


async def test_full_user_flow(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    result = await to_pair_step(hass, satellite.port)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "pair"
    assert schema_names(result) == [CONF_CODE, CONF_ACCESS_KEY]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_KEY: ACCESS_KEY}
    )
    assert result["step_id"] == "account"  # no account yet: the key, once (or none: pipeline)
    assert schema_names(result) == [CONF_API_KEY, CONF_URL, "pipeline_only"]
    assert standin.connections == []

    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))
    # The key was checked with a real connection through the compatibility layer (the new entry's
    # own session may already have followed it, on the same model, when the machine is busy).
    opened = [c.model for c in standin.connections if c.refused is None]
    assert opened[:1] == [DEFAULT_MODEL]
    assert set(opened) == {DEFAULT_MODEL}
    assert len(opened) <= 2
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Kitchen"
    entry = result["result"]
    assert entry.unique_id == satellite.info.satellite_id
    assert entry.version == 2
    assert CONF_API_KEY not in entry.data
    assert entry.data[CONF_PORT] == satellite.port
    assert entry.options[CONF_MODEL_SELECTION] == "auto"
    assert entry.options[CONF_VOICE] == "marin"
    # A new user must not start on a model that a repair asks them to leave right away.
    info = lookup(entry.options[CONF_MODEL])
    assert info is not None
    assert info.interface == "ga"
    assert info.shutdown is None, f"{info.name} shuts down on {info.shutdown}"

    (account,) = accounts(hass)
    assert entry.data[CONF_ACCOUNT] == account.entry_id
    # not OpenAI's own endpoint: named by its host and port
    assert account.title == f"Realtime account ({urlsplit(standin.url).netloc})"
    assert account.data[CONF_API_KEY] == API_KEY
    assert account.data[CONF_URL] == standin.url
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert account.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_second_satellite_is_not_asked_the_key(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    first = entry_for(standin, satellite)
    first.add_to_hass(hass)
    second = LinkSatellite(name="Office", satellite_id="office-0002")
    await second.start()
    try:
        result = await to_pair_step(hass, second.port)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ACCESS_KEY: ACCESS_KEY}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["title"] == "Office"
        assert result["data"][CONF_ACCOUNT] == first.account.entry_id
        assert standin.connections == []  # no retyping, no new check of a known key
        assert accounts(hass) == [first.account]
        await hass.async_block_till_done()
        assert await hass.config_entries.async_unload(result["result"].entry_id)
    finally:
        await second.stop()


async def test_several_accounts_the_user_chooses_one(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """After migrating satellites with different keys there are several accounts: the new
    satellite's flow asks which (and no key)."""
    other = account_for(standin.url, api_key="sk-other-key-0123456789", title="Second")
    other.add_to_hass(hass)
    entry_for(standin, port=1, satellite_id="pantry-0003").add_to_hass(hass)
    result = await to_account_step(hass, satellite)
    assert result["step_id"] == "choose_account"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"account_entry": other.entry_id}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_ACCOUNT] == other.entry_id
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("standin_config", "changes", "error"),
    [
        (StandinConfig(endpoint="ga", api_key=API_KEY), {CONF_API_KEY: "sk-wrong"}, "invalid_auth"),
        (
            StandinConfig(endpoint="ga", api_key=API_KEY, auth_failure="http"),
            {CONF_API_KEY: "sk-wrong"},
            "invalid_auth",
        ),
    ],
    ids=["bad-key", "bad-key-http-401"],
)
async def test_account_step_errors(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    changes: dict[str, str],
    error: str,
) -> None:
    result = await to_account_step(hass, satellite)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], api_input(standin, **changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert result["description_placeholders"]["detail"]  # the endpoint's own words
    assert "sk-wrong" not in result["description_placeholders"]["detail"]
    assert accounts(hass) == []

    # The user corrects the input and goes on.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_account_step_cannot_connect(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    result = await to_account_step(hass, satellite)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], api_input(standin, **{CONF_URL: "ws://127.0.0.1:9/v1/realtime"})
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_account_step_url_without_a_scheme(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """A URL typed without ws:// or https://: the form names the bad URL and what it should start
    with (no connection is tried), and the corrected URL goes on."""
    result = await to_account_step(hass, satellite)
    without_scheme = standin.url.removeprefix("ws://")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], api_input(standin, **{CONF_URL: without_scheme})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "cannot_connect"}
    detail = result["description_placeholders"]["detail"]
    assert without_scheme in detail
    assert "ws://, wss://, http:// or https://" in detail
    assert API_KEY not in detail
    assert standin.connections == []  # nothing was tried

    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_satellite_step_errors(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    # Nobody at the address: back to the address form, with the error (the pair step found
    # nobody to ask for a code).
    result = await to_pair_step(hass, 9)
    assert result["step_id"] == "user"
    assert result["errors"] == {"base": "cannot_connect_satellite"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: satellite.port}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_KEY: WRONG_KEY}
    )
    assert result["step_id"] == "pair"
    assert result["errors"] == {CONF_ACCESS_KEY: "invalid_access_key"}

    # A weak key is refused before any connection (#13).
    for weak in ("wrong", "kitchen-secret-key", "a" * 40):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ACCESS_KEY: weak}
        )
        assert result["errors"] == {CONF_ACCESS_KEY: "weak_access_key"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_KEY: ACCESS_KEY}
    )
    assert result["step_id"] == "account"


async def test_an_outdated_satellite_is_told_to_update(hass: HomeAssistant) -> None:
    """A satellite of the unencrypted protocol 2: "update the satellite", and it got no proof."""
    received: list[object] = []

    async def old_satellite(connection: ServerConnection) -> None:
        hello = {"type": "hello", "protocol": 2, "name": "Old", "version": "0.1", "nonce": "a" * 32}
        await connection.send(json.dumps(hello))
        with contextlib.suppress(ConnectionClosed):
            async for message in connection:
                received.append(message)

    async with serve(old_satellite, "127.0.0.1", 0) as old:
        result = await to_pair_step(hass, old.sockets[0].getsockname()[1])
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ACCESS_KEY: ACCESS_KEY}
        )
    assert result["errors"] == {"base": "satellite_outdated"}
    assert received == []


async def test_same_satellite_twice_updates_its_address(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: "10.0.0.9"})
    result = await to_account_step(hass, satellite)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == "127.0.0.1"


async def test_reconfiguring_the_account_rotates_the_key_of_every_satellite(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """The user rotates the key before revoking the old one: one form, checked, and the
    satellites reconnect with the new key."""
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry)
    account = entry.account
    result = await account.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure_account"
    assert result["description_placeholders"]["satellites"] == "Kitchen"
    rotated = "sk-rotated-9876543210fedcba"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], api_input(standin, api_key=rotated)
    )
    assert result["errors"] == {"base": "invalid_auth"}  # the endpoint does not know it yet
    standin.config.api_key = rotated
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], api_input(standin, api_key=rotated)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "account_updated"
    assert account.data[CONF_API_KEY] == rotated
    await hass.async_block_till_done()
    await wait_until(lambda: entry.runtime_data.manager.session is not None)
    assert standin.connections[-1].refused is None
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_an_account_has_no_options(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    entry.add_to_hass(hass)
    handler = config_entries.HANDLERS[DOMAIN]
    assert handler.async_supports_options_flow(entry)
    assert not handler.async_supports_options_flow(entry.account)


def zeroconf_info(satellite: LinkSatellite, **properties: str) -> ZeroconfServiceInfo:
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        hostname="kitchen.local.",
        name="Kitchen._realtime-voice._tcp.local.",
        port=satellite.port,
        type="_realtime-voice._tcp.local.",
        properties={"name": "Kitchen", "id": satellite.info.satellite_id, **properties},
    )


async def test_zeroconf_discovery(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_ZEROCONF}, data=zeroconf_info(satellite)
    )
    assert result["step_id"] == "zeroconf_confirm"
    assert result["description_placeholders"]["name"] == "Kitchen"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    # the address came from discovery: straight to pairing (this satellite is not in pairing
    # mode, test_pairing_flow.py pairs one that is); its key can be typed there
    assert result["step_id"] == "pair"
    assert result["errors"] == {"base": "not_pairing"}
    assert sorted(schema_names(result)) == sorted([CONF_CODE, CONF_ACCESS_KEY])
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_KEY: ACCESS_KEY}
    )
    assert result["step_id"] == "account"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PORT] == satellite.port
    await hass.async_block_till_done()


async def test_zeroconf_known_satellite_updates_address(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_PORT: 1})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_ZEROCONF}, data=zeroconf_info(satellite)
    )
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_PORT] == satellite.port


async def test_zeroconf_without_id_aborts(hass: HomeAssistant, satellite: LinkSatellite) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": config_entries.SOURCE_ZEROCONF},
        data=zeroconf_info(satellite, id=""),
    )
    assert result["reason"] == "no_satellite_id"
