"""Config flow: API step against the stand-in Realtime server, satellite step against a real link."""

from __future__ import annotations

import contextlib
import json
from ipaddress import ip_address

import pytest
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from custom_components.realtime_voice.const import (
    CONF_ACCESS_KEY,
    CONF_API_KEY,
    CONF_HOST,
    CONF_LEGACY_MODEL,
    CONF_MODEL,
    CONF_MODEL_SELECTION,
    CONF_PORT,
    CONF_URL,
    CONF_VOICE,
    DOMAIN,
)
from custom_components.realtime_voice.core.realtime.registry import lookup
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import ACCESS_KEY, LinkSatellite

WRONG_KEY = "Zq8-another-strong-key-4f7Tx2"  # strong enough, but not the satellite's


def api_input(standin: StandinServer, **changes: str) -> dict[str, str]:
    return {
        CONF_API_KEY: API_KEY,
        CONF_URL: standin.url,
        CONF_MODEL_SELECTION: "auto",
        CONF_MODEL: "gpt-realtime",
        CONF_LEGACY_MODEL: "gpt-4o-realtime-preview",
        CONF_VOICE: "marin",
        **changes,
    }


async def start_user_flow(hass: HomeAssistant) -> dict:
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )


async def test_full_user_flow(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    result = await start_user_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "api"

    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "satellite"
    # The key was checked with a real connection through the compatibility layer.
    assert [c.model for c in standin.connections if c.refused is None] == ["gpt-realtime"]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "127.0.0.1", CONF_PORT: satellite.port, CONF_ACCESS_KEY: ACCESS_KEY},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Kitchen"
    entry = result["result"]
    assert entry.unique_id == satellite.info.satellite_id
    assert entry.data[CONF_API_KEY] == API_KEY
    assert entry.data[CONF_URL] == standin.url
    assert entry.data[CONF_PORT] == satellite.port
    assert entry.options[CONF_MODEL_SELECTION] == "auto"
    assert entry.options[CONF_VOICE] == "marin"


async def test_suggested_model_is_not_about_to_shut_down(hass: HomeAssistant) -> None:
    # A new user must not start on a model that a repair asks them to leave right away.
    result = await start_user_flow(hass)
    assert result["step_id"] == "api"
    schema = result["data_schema"].schema
    suggested = next(key.default() for key in schema if key == CONF_MODEL)
    info = lookup(suggested)
    assert info is not None
    assert info.interface == "ga"
    assert info.shutdown is None, f"{suggested} shuts down on {info.shutdown}"


@pytest.mark.parametrize(
    ("standin_config", "changes", "error"),
    [
        (StandinConfig(endpoint="ga", api_key=API_KEY), {CONF_API_KEY: "sk-wrong"}, "invalid_auth"),
        (
            StandinConfig(endpoint="ga", api_key=API_KEY, auth_failure="http"),
            {CONF_API_KEY: "sk-wrong"},
            "invalid_auth",
        ),
        (
            StandinConfig(endpoint="ga", api_key=API_KEY),
            {CONF_MODEL_SELECTION: "new", CONF_MODEL: "gpt-realtime-unknown"},
            "model_unavailable",
        ),
        (
            StandinConfig(endpoint="ga", api_key=API_KEY),
            {CONF_MODEL_SELECTION: "legacy"},
            "interface_unsupported",
        ),
    ],
    ids=["bad-key", "bad-key-http-401", "unknown-model", "legacy-on-ga-only"],
)
async def test_api_step_errors(
    hass: HomeAssistant, standin: StandinServer, changes: dict[str, str], error: str
) -> None:
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], api_input(standin, **changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert result["description_placeholders"]["detail"]  # the endpoint's own words
    assert "sk-wrong" not in result["description_placeholders"]["detail"]

    # The user corrects the input and goes on.
    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))
    assert result["step_id"] == "satellite"


async def test_api_step_cannot_connect(hass: HomeAssistant, standin: StandinServer) -> None:
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], api_input(standin, **{CONF_URL: "ws://127.0.0.1:9/v1/realtime"})
    )
    assert result["errors"] == {"base": "cannot_connect"}


async def test_api_step_url_without_a_scheme(hass: HomeAssistant, standin: StandinServer) -> None:
    """A URL typed without ws:// or https://: the form names the bad URL and what it should start
    with (no connection is tried), and the corrected URL goes on."""
    result = await start_user_flow(hass)
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
    assert result["step_id"] == "satellite"


async def test_satellite_step_errors(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: 9, CONF_ACCESS_KEY: ACCESS_KEY}
    )
    assert result["errors"] == {"base": "cannot_connect_satellite"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "127.0.0.1", CONF_PORT: satellite.port, CONF_ACCESS_KEY: WRONG_KEY},
    )
    assert result["errors"] == {CONF_ACCESS_KEY: "invalid_access_key"}

    # A weak key is refused before any connection (#13).
    for weak in ("wrong", "kitchen-secret-key", "a" * 40):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_HOST: "127.0.0.1", CONF_PORT: satellite.port, CONF_ACCESS_KEY: weak},
        )
        assert result["errors"] == {CONF_ACCESS_KEY: "weak_access_key"}

    # A satellite of the unencrypted protocol 2: "update the satellite", and it got no proof.
    received: list[object] = []

    async def old_satellite(connection: ServerConnection) -> None:
        hello = {"type": "hello", "protocol": 2, "name": "Old", "version": "0.1", "nonce": "a" * 32}
        await connection.send(json.dumps(hello))
        with contextlib.suppress(ConnectionClosed):
            async for message in connection:
                received.append(message)

    async with serve(old_satellite, "127.0.0.1", 0) as old:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                CONF_HOST: "127.0.0.1",
                CONF_PORT: old.sockets[0].getsockname()[1],
                CONF_ACCESS_KEY: ACCESS_KEY,
            },
        )
    assert result["errors"] == {"base": "satellite_outdated"}
    assert received == []

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "127.0.0.1", CONF_PORT: satellite.port, CONF_ACCESS_KEY: ACCESS_KEY},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_reuse_api_key_of_another_entry(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    other = entry_for(standin, satellite, **{CONF_VOICE: "cedar"})
    other.add_to_hass(hass)
    second = LinkSatellite(name="Office", satellite_id="office-0002")
    await second.start()
    try:
        result = await start_user_flow(hass)
        assert result["type"] is FlowResultType.MENU
        assert result["menu_options"] == ["reuse", "api"]

        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "reuse"}
        )
        assert result["step_id"] == "reuse"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"reuse_entry": other.entry_id}
        )
        assert result["step_id"] == "satellite"
        assert standin.connections == []  # no retyping, no new check of a known key
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {CONF_HOST: "127.0.0.1", CONF_PORT: second.port, CONF_ACCESS_KEY: ACCESS_KEY},
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        assert result["title"] == "Office"
        assert result["data"][CONF_API_KEY] == API_KEY
        assert result["options"][CONF_VOICE] == "cedar"  # copied with the connection
    finally:
        await second.stop()


async def test_menu_offers_another_key(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry_for(standin, satellite).add_to_hass(hass)
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "api"}
    )
    assert result["step_id"] == "api"


async def test_same_satellite_twice_updates_its_address(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    entry = entry_for(standin, satellite)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_HOST: "10.0.0.9"})
    result = await start_user_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "api"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "127.0.0.1", CONF_PORT: satellite.port, CONF_ACCESS_KEY: ACCESS_KEY},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == "127.0.0.1"


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
    assert result["step_id"] == "api"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))
    # the address came from discovery: straight to pairing (this satellite is not in pairing
    # mode, test_pairing_flow.py pairs one that is); its key can be typed there
    assert result["step_id"] == "pair"
    assert result["errors"] == {"base": "not_pairing"}
    assert CONF_HOST not in result["data_schema"].schema
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_KEY: ACCESS_KEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_PORT] == satellite.port


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
