"""The zeroconf (mDNS) advertisement: ``<name>._realtime-voice._tcp.local.`` so HA discovers the satellite.

TXT properties: ``name``, ``id`` (the stable satellite id), ``version``, ``protocol`` (the link protocol version).
The addresses are checked every ``check_interval_s`` (30 s): when DHCP gives the Pi another one, the
announcement is updated, and Home Assistant, seeing the known id at a new address, updates its entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
from collections.abc import Callable

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


class ZeroconfAdvertiser:
    """Registers the service while the satellite runs.

    Where multicast is unavailable (qemu-user answers setsockopt(IP_MULTICAST_IF) with Errno 92;
    some containers and hosts have no multicast route) ``start`` logs one warning and returns
    False: discovery is off, the link works as before and HA can add the satellite by address.
    """

    def __init__(
        self,
        name: str,
        port: int,
        satellite_id: str,
        *,
        interfaces: list[str] | None = None,
        addresses: Callable[[], list[str]] | None = None,
        check_interval_s: float = 30.0,
    ) -> None:
        """``interfaces``: where to send (default: every interface); ``addresses``: what to
        announce (default: ``interfaces`` if given, else this machine's addresses, re-read every
        ``check_interval_s``)."""
        fixed = list(interfaces) if interfaces else None
        self._addresses = addresses or ((lambda: list(fixed)) if fixed else local_addresses)
        self.addresses = self._addresses()
        self._name, self._port, self._satellite_id = name, port, satellite_id
        self.info = service_info(name, port, self.addresses, satellite_id)
        self._zeroconf: AsyncZeroconf | None = None
        self._broadcast: asyncio.Future[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._interfaces = interfaces
        self._check_interval_s = check_interval_s

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
        self._watch = asyncio.create_task(self._follow_addresses())
        return True

    async def _follow_addresses(self) -> None:
        while True:
            await asyncio.sleep(self._check_interval_s)
            try:
                await self.check_addresses()
            except Exception:  # a failed update is retried at the next check
                _LOGGER.warning("zeroconf: updating the announced addresses failed", exc_info=True)

    async def check_addresses(self) -> bool:
        """Announce this machine's addresses if they changed; True when they did. No address at
        all (between two DHCP leases) keeps the last announcement."""
        now = self._addresses()
        if not now or sorted(now) == sorted(self.addresses) or self._zeroconf is None:
            return False
        _LOGGER.info("zeroconf: address changed from %s to %s", self.addresses, now)
        self.addresses = now
        # Unregistering says goodbye for the old address records (an update would leave them in
        # every cache for their two minutes, beside the new ones); then the new ones are announced.
        await self._zeroconf.async_unregister_service(self.info)
        self.info = service_info(self._name, self._port, now, self._satellite_id)
        if self._broadcast is not None:
            self._broadcast.cancel()
        broadcast = await self._zeroconf.async_register_service(self.info, allow_name_change=True)
        self._broadcast = asyncio.ensure_future(broadcast)
        return True

    async def stop(self) -> None:
        if self._zeroconf is None:
            return
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        if self._broadcast is not None:
            self._broadcast.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._broadcast
            self._broadcast = None
        await self._zeroconf.async_unregister_all_services()
        await self._zeroconf.async_close()
        self._zeroconf = None
