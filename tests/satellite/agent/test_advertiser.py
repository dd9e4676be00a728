"""Zeroconf: the announcement registers and resolves on loopback (multicast works on lo here)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncZeroconf

from realtime_voice_satellite.agent.advertiser import ZeroconfAdvertiser, service_info
from realtime_voice_satellite.agent.audio_io import WavFileSink, WavFileSource
from realtime_voice_satellite.agent.config import with_overrides
from realtime_voice_satellite.commands.satellite import run_agent
from realtime_voice_satellite.link import LinkConnectionError, SatelliteLinkClient
from realtime_voice_satellite.link.protocol import PROTOCOL_VERSION, ZEROCONF_TYPE
from tests.helpers.network import free_port
from tests.helpers.waiting import first_success

from ..harness import KEY, Script, config


async def test_announcement_resolves_with_its_properties() -> None:
    advertiser = ZeroconfAdvertiser("Kitchen satellite", 10801, "abc123", interfaces=["127.0.0.1"])
    browser = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    await advertiser.start()
    try:
        info = await browser.async_get_service_info(
            ZEROCONF_TYPE, advertiser.info.name, timeout=3000
        )
    finally:
        await browser.async_close()
        await advertiser.stop()
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


async def test_without_multicast_the_satellite_serves_its_link_with_discovery_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Under qemu-user (and on hosts without multicast) setsockopt(IP_MULTICAST_IF) fails with
    Errno 92; the agent, as ``realtime-voice satellite`` runs it, still serves its link."""
    real_setsockopt = socket.socket.setsockopt

    def setsockopt(sock: socket.socket, level: int, option: int, *args: Any) -> None:
        if (level, option) == (socket.IPPROTO_IP, socket.IP_MULTICAST_IF):
            raise OSError(errno.ENOPROTOOPT, "Protocol not available")  # qemu-user's answer
        real_setsockopt(sock, level, option, *args)

    monkeypatch.setattr(socket.socket, "setsockopt", setsockopt)
    port = free_port()
    cfg = with_overrides(config(), link={"port": port}, zeroconf={"enabled": True})
    wav = Script().pause(1.0).write("quiet")
    agent = asyncio.create_task(
        run_agent(cfg, WavFileSource(wav), WavFileSink(tmp_path / "out.wav", 24_000))
    )
    client = SatelliteLinkClient("127.0.0.1", port, KEY)

    def agent_alive() -> None:
        assert not agent.done(), agent.exception()

    try:
        # the agent needs a moment to load the models
        info = await first_success(
            client.connect, LinkConnectionError, within=20, every=0.1, alive=agent_alive
        )
        assert info.name == cfg.name
    finally:
        await client.close()
        agent.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await agent
    found = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.levelname for r in found] == ["WARNING"], [r.getMessage() for r in found]
    message = found[0].getMessage()
    assert "zeroconf announcement failed, discovery is off" in message
    assert "Errno 92" in message
    assert f"port {port}" in message  # how to add it by hand


async def test_the_announcement_follows_an_address_change() -> None:
    """DHCP gives the Pi another address: the announcement says so within the check interval, so
    Home Assistant's zeroconf sees the known id at the new address and updates its entry
    (tests/integration/test_config_flow.py, test_zeroconf_known_satellite_updates_address)."""
    addresses = ["192.168.1.20"]
    advertiser = ZeroconfAdvertiser(
        "Kitchen satellite",
        10801,
        "abc123",
        interfaces=["127.0.0.1"],
        addresses=lambda: list(addresses),
        check_interval_s=0.2,
    )
    browser = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    await advertiser.start()
    try:
        info = await browser.async_get_service_info(
            ZEROCONF_TYPE, advertiser.info.name, timeout=3000
        )
        assert info is not None
        assert info.parsed_addresses() == ["192.168.1.20"]
        addresses[:] = ["192.168.1.57"]
        async with asyncio.timeout(5):
            while True:
                await asyncio.sleep(0.2)
                info = await browser.async_get_service_info(
                    ZEROCONF_TYPE, advertiser.info.name, timeout=3000
                )
                if info is not None and info.parsed_addresses() == ["192.168.1.57"]:
                    break
        assert info.properties[b"id"] == b"abc123"
        assert info.port == 10801
    finally:
        await browser.async_close()
        await advertiser.stop()


async def test_no_address_for_a_while_keeps_the_last_announcement() -> None:
    """Between two leases the Pi has no address; the announcement keeps the last one rather than
    announcing none."""
    addresses = ["192.168.1.20"]
    advertiser = ZeroconfAdvertiser(
        "Kitchen satellite",
        10801,
        "abc123",
        interfaces=["127.0.0.1"],
        addresses=lambda: list(addresses),
        check_interval_s=0.1,
    )
    await advertiser.start()
    try:
        addresses.clear()
        await asyncio.sleep(0.5)
        assert advertiser.info.parsed_addresses() == ["192.168.1.20"]
    finally:
        await advertiser.stop()
