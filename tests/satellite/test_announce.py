"""Zeroconf: the announcement registers and resolves on loopback (multicast works on lo here)."""

from __future__ import annotations

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

from realtime_voice_core.link.protocol import PROTOCOL_VERSION, ZEROCONF_TYPE
from realtime_voice_core.satellite.announce import Announcer, service_info


async def test_announcement_resolves_with_its_properties() -> None:
    announcer = Announcer("Kitchen satellite", 10801, "abc123", interfaces=["127.0.0.1"])
    browser = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    await announcer.start()
    try:
        info = await browser.async_get_service_info(
            ZEROCONF_TYPE, announcer.info.name, timeout=3000
        )
    finally:
        await browser.async_close()
        await announcer.stop()
    assert info is not None
    assert info.port == 10801
    assert info.parsed_addresses() == ["127.0.0.1"]
    assert info.properties == {
        b"name": b"Kitchen satellite",
        b"id": b"abc123",
        b"version": b"0.1.0",
        b"protocol": str(PROTOCOL_VERSION).encode(),
    }


def test_instance_name_is_a_valid_label() -> None:
    info = service_info("Living room. Left  shelf", 10800, ["192.168.1.20"], "x")
    assert info.name == f"Living-room-Left-shelf.{ZEROCONF_TYPE}"
    assert info.type == ZEROCONF_TYPE
