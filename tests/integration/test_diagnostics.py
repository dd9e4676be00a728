"""Diagnostics leave out every secret, the endpoint URL included (Azure and proxy URLs can carry a
key or a signature in their query)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.realtime_voice.const import CONF_API_KEY, CONF_URL
from tests.realtime_standin import StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import ACCESS_KEY, LinkSatellite
from .waiting import load_entry

SIGNATURE = "sig-0123456789-secret"
SECURE_PIN = "80417"  # the spoken PIN of secure devices (#23)


async def test_diagnostics_redact_the_endpoint_url(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    standin: StandinServer,
    satellite: LinkSatellite,
) -> None:
    entry = entry_for(
        standin, satellite, url=f"{standin.url}?sig={SIGNATURE}", secure_pin=SECURE_PIN
    )
    await load_entry(hass, entry)
    assert await async_setup_component(hass, "diagnostics", {})
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = repr(diagnostics)
    for secret in (SIGNATURE, API_KEY, ACCESS_KEY, standin.url, SECURE_PIN):
        assert secret not in text
    assert diagnostics["account"]["data"][CONF_URL] == "**REDACTED**"
    assert diagnostics["entry"]["options"]["secure_pin"] == "**REDACTED**"
    assert diagnostics["account"]["url_is_default"] is False

    # the account's own diagnostics: its key and endpoint redacted, its satellites named
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry.account)
    text = repr(diagnostics)
    for secret in (SIGNATURE, API_KEY, standin.url):
        assert secret not in text
    assert diagnostics["account"]["data"][CONF_API_KEY] == "**REDACTED**"
    assert diagnostics["satellites"] == [entry.title]
    assert await hass.config_entries.async_unload(entry.entry_id)
