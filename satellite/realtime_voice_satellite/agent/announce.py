"""Zeroconf (mDNS) announcement: ``<name>._realtime-voice._tcp.local.`` so HA discovers the satellite.

TXT properties: ``name``, ``id`` (the stable satellite id), ``version``, ``protocol`` (the link protocol version).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket

import ifaddr
from zeroconf import InterfaceChoice, IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from .. import __version__
from ..link.protocol import PROTOCOL_VERSION, ZEROCONF_TYPE

_LOGGER = logging.getLogger(__name__)


def local_addresses() -> list[str]:
    """IPv4 addresses of this machine's interfaces, loopback excluded."""
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                found.append(ip.ip)
    return found


def service_info(name: str, port: int, addresses: list[str], satellite_id: str) -> AsyncServiceInfo:
    # mDNS instance names may hold almost anything but dots would split the label.
    instance = re.sub(r"[.\s]+", "-", name).strip("-")[:63] or "realtime-voice"
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "satellite"
    return AsyncServiceInfo(
        ZEROCONF_TYPE,
        f"{instance}.{ZEROCONF_TYPE}",
        port=port,
        properties={
            "name": name,
            "id": satellite_id,
            "version": __version__,
            "protocol": str(PROTOCOL_VERSION),
        },
        server=f"{host}.local.",
        parsed_addresses=addresses,
    )


class Announcer:
    """Registers the service while the satellite runs.

    Where multicast is unavailable (qemu-user answers setsockopt(IP_MULTICAST_IF) with Errno 92;
    some containers and hosts have no multicast route) ``start`` logs one warning and returns
    False: discovery is off, the link works as before and HA can add the satellite by address.
    """

    def __init__(
        self, name: str, port: int, satellite_id: str, *, interfaces: list[str] | None = None
    ) -> None:
        self.addresses = interfaces or local_addresses()
        self.info = service_info(name, port, self.addresses, satellite_id)
        self._zeroconf: AsyncZeroconf | None = None
        self._broadcast: asyncio.Future[None] | None = None
        self._interfaces = interfaces

    async def start(self) -> bool:
        """True when announced; False (and one warning) where multicast is unavailable."""
        try:
            self._zeroconf = AsyncZeroconf(
                interfaces=self._interfaces or self.addresses or InterfaceChoice.All,
                ip_version=IPVersion.V4Only,
            )
            # Registration returns once the name is claimed; its announcements go on in a task.
            broadcast = await self._zeroconf.async_register_service(
                self.info, allow_name_change=True
            )
        except OSError as err:
            _LOGGER.warning(
                "zeroconf announcement failed, discovery is off (%s); the link works: add the "
                "satellite in Home Assistant by its address, port %s",
                err,
                self.info.port,
            )
            if self._zeroconf is not None:
                with contextlib.suppress(Exception):
                    await self._zeroconf.async_close()
                self._zeroconf = None
            return False
        self._broadcast = asyncio.ensure_future(broadcast)
        return True

    async def stop(self) -> None:
        if self._zeroconf is None:
            return
        if self._broadcast is not None:
            self._broadcast.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._broadcast
            self._broadcast = None
        await self._zeroconf.async_unregister_all_services()
        await self._zeroconf.async_close()
        self._zeroconf = None
