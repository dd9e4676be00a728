"""Test only (tests/e2e): hands a satellite's advertisement to Home Assistant's discovery as HA's
zeroconf integration does (``discovery_flow.async_create_flow`` with a ``ZeroconfServiceInfo``).

The e2e stack has no mDNS: HA's zeroconf and the satellite's advertiser would multicast on every
interface, and the stack stays on loopback. The test reads the advertisement the satellite makes
(its advertiser.service_info) and calls the service ``e2e_zeroconf.discovered`` with it.
"""

from __future__ import annotations

from ipaddress import ip_address

from homeassistant.config_entries import SOURCE_ZEROCONF
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.helpers.typing import ConfigType

DOMAIN = "e2e_zeroconf"


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    async def discovered(call: ServiceCall) -> None:
        data = call.data
        addresses = [ip_address(a) for a in data["addresses"]]
        info = ZeroconfServiceInfo(
            ip_address=addresses[0],
            ip_addresses=addresses,
            port=data["port"],
            hostname=data["hostname"],
            type=data["type"],
            name=data["name"],
            properties=dict(data["properties"]),
        )
        discovery_flow.async_create_flow(
            hass, data["integration"], {"source": SOURCE_ZEROCONF}, info
        )

    hass.services.async_register(DOMAIN, "discovered", discovered)
    return True
