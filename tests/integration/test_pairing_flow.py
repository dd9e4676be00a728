"""Pairing by the code the satellite speaks (issue #25), in real Home Assistant: the config flow's
``pair`` step against the real link server with its real pairing window (the spoken code is what
the window handed to ``speak``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from homeassistant import config_entries
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.realtime_voice.const import (
    CONF_ACCESS_KEY,
    CONF_HOST,
    CONF_PORT,
    DOMAIN,
)
from custom_components.realtime_voice.pairing import CONF_CODE
from realtime_voice_satellite.link.pairing import MAX_TRIES
from tests.realtime_standin import StandinServer

from .conftest import entry_for
from .link_satellite import ACCESS_KEY, LinkSatellite
from .test_config_flow import api_input, start_user_flow, zeroconf_info


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def unpaired() -> AsyncIterator[LinkSatellite]:
    """A satellite that started without an access key: pairing mode is open."""
    satellite = LinkSatellite(access_key=None)
    satellite.open_pairing(clock=Clock())
    await satellite.start()
    yield satellite
    await satellite.stop()


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def to_pair_step(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> dict:
    result = await start_user_flow(hass)
    if result["type"] is FlowResultType.MENU:  # another satellite has an API key
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "api"}
        )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))
    assert result["step_id"] == "satellite"
    key_field = next(k for k in result["data_schema"].schema if k == CONF_ACCESS_KEY)
    assert type(key_field).__name__ == "Optional"
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: satellite.port}
    )


async def test_discovered_satellite_pairs_by_the_code_it_speaks(
    hass: HomeAssistant, standin: StandinServer, unpaired: LinkSatellite
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_ZEROCONF}, data=zeroconf_info(unpaired)
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], api_input(standin))
    # no address and no key to type: the satellite speaks its code at once
    assert result["step_id"] == "pair"
    assert result["errors"] == {}
    assert result["description_placeholders"]["name"] == "Kitchen"
    [code] = unpaired.spoken

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CODE: wrong(code)}
    )
    assert result["step_id"] == "pair"
    assert result["errors"] == {CONF_CODE: "wrong_code"}
    assert result["description_placeholders"]["tries_left"] == str(MAX_TRIES - 1)
    assert unpaired.access_key is None  # nothing stored on a wrong code

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_CODE: f"{code[:3]} {code[3:]}"},  # as the satellite shows it
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Kitchen"
    key = result["data"][CONF_ACCESS_KEY]
    assert key == unpaired.access_key  # both sides derived the same key; nobody typed it
    assert result["result"].unique_id == unpaired.info.satellite_id


async def test_satellite_by_address_pairs_and_a_second_one_is_refused(
    hass: HomeAssistant, standin: StandinServer, unpaired: LinkSatellite
) -> None:
    result = await to_pair_step(hass, standin, unpaired)
    assert result["step_id"] == "pair"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CODE: unpaired.spoken[-1]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # another Home Assistant (here: another flow) while the satellite has its key
    result = await to_pair_step(hass, standin, unpaired)
    assert result["errors"] == {"base": "not_pairing"}
    assert len(unpaired.spoken) == 1
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CODE: unpaired.spoken[-1]}
    )
    assert result["errors"] == {"base": "not_pairing"}


async def test_three_wrong_codes_end_pairing_and_the_flow_says_how_to_start_again(
    hass: HomeAssistant, standin: StandinServer, unpaired: LinkSatellite
) -> None:
    result = await to_pair_step(hass, standin, unpaired)
    code = unpaired.spoken[-1]
    # not six digits: refused before the satellite is asked, no try spent
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_CODE: "12a"})
    assert result["errors"] == {CONF_CODE: "invalid_code"}
    errors = []
    for _ in range(MAX_TRIES):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_CODE: wrong(code)}
        )
        errors.append(result["errors"])
    assert errors == [{CONF_CODE: "wrong_code"}] * 2 + [{"base": "too_many_codes"}]
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_CODE: code})
    assert result["errors"] == {"base": "too_many_codes"}
    # --pair on the satellite; the form submitted empty asks for the (new) code
    assert unpaired.pairing is not None
    unpaired.pairing.open()
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {}
    assert len(unpaired.spoken) == 2  # a new code, spoken
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CODE: unpaired.spoken[-1]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_an_expired_code_and_a_satellite_not_in_pairing_mode_are_named(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    clock = Clock()
    result = await to_pair_step(hass, standin, satellite)  # paired, no --pair: closed
    assert result["errors"] == {"base": "not_pairing"}
    await satellite.stop()
    satellite.open_pairing(clock=clock)  # restarted after --pair
    await satellite.start()
    result = await to_pair_step(hass, standin, satellite)
    assert result["errors"] == {}
    clock.now += 301
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CODE: satellite.spoken[-1]}
    )
    assert result["errors"] == {"base": "code_expired"}
    assert satellite.access_key == ACCESS_KEY


async def test_the_access_key_can_still_be_typed(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """A satellite without a speaker: the key --new-access-key printed, in the pair step."""
    result = await to_pair_step(hass, standin, satellite)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_KEY: "Rt5Yu7Io9Pa2Sd4Fg6Hj8Kl1Zx3Cv0"}
    )
    assert result["errors"] == {CONF_ACCESS_KEY: "invalid_access_key"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCESS_KEY: ACCESS_KEY}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_ACCESS_KEY] == ACCESS_KEY


async def test_reauth_pairs_again_by_the_spoken_code(
    hass: HomeAssistant, standin: StandinServer, unpaired: LinkSatellite
) -> None:
    """The satellite was reinstalled (no key): HA's re-authentication pairs it by its code."""
    entry = entry_for(standin, unpaired, access_key=ACCESS_KEY)
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": config_entries.SOURCE_REAUTH, "entry_id": entry.entry_id},
        data=dict(entry.data),
    )
    assert result["step_id"] == "pair"
    assert result["errors"] == {}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CODE: unpaired.spoken[-1]}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    assert entry.data[CONF_ACCESS_KEY] == unpaired.access_key != ACCESS_KEY
