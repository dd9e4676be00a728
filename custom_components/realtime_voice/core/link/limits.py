"""Bounds on the satellite's link server before authentication.

Failed authentications slow the address they come from (:class:`AuthBackoff`): its next attempt
is checked only after a delay that doubles with each failure in a row, up to a bound, and the
attempts it makes meanwhile queue behind each other, so guessing the access key from one address
is held to one guess per delay however many connections it opens. A right key resets it; other
addresses are not delayed. At most ``max_addresses`` are remembered (the least recently seen goes
first), so a scan from many addresses cannot grow the memory.

Connections that have not proven the access key yet (TLS handshake, HTTP upgrade, hello and auth)
are counted from the moment the kernel hands them over: at most ``max_total``, and at most
``max_per_address`` from one address. One over either bound is closed at once, before the TLS
handshake, so idle sockets cannot fill the descriptor table; refusals are logged at most once per
10 s per address. A connection stops counting when it authenticates or closes.

The gate sits in the listening socket's ``accept()`` (asyncio and websockets take a ready-made
socket through ``sock=``), the only place that sees a connection before TLS does.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .log_limit import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

MAX_PENDING = 32
MAX_PENDING_PER_ADDRESS = 4
AUTH_BACKOFF_FIRST_S = 0.5  # the delay after one failure, doubled with each further one...
AUTH_BACKOFF_MAX_S = 4.0  # ...up to this
AUTH_BACKOFF_ADDRESSES = 4096


@dataclass(slots=True)
class _Failures:
    count: int = 0
    next_at: float = 0.0  # the clock's time before which no attempt of the address is checked


class AuthBackoff:
    """``wait(address)``: how long to hold an authentication attempt before checking it;
    ``failed(address)`` and ``succeeded(address)`` after the check."""

    def __init__(
        self,
        first_s: float = AUTH_BACKOFF_FIRST_S,
        max_s: float = AUTH_BACKOFF_MAX_S,
        *,
        max_addresses: int = AUTH_BACKOFF_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < first_s <= max_s:
            raise ValueError(f"need 0 < first_s <= max_s, got {first_s!r} and {max_s!r}")
        self.first_s = first_s
        self.max_s = max_s
        self.max_addresses = max_addresses
        self._clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def delay(self, failures: int) -> float:
        """The delay after ``failures`` failures in a row (0 for none)."""
        if failures <= 0:
            return 0.0
        return min(self.max_s, self.first_s * 2.0 ** min(failures - 1, 32))

    def wait(self, address: str) -> float:
        """Seconds to hold this attempt; it takes the address's next slot, so that the next
        attempt waits a delay longer."""
        state = self._failures.get(address)
        if state is None:
            return 0.0
        self._failures.move_to_end(address)
        now = self._clock()
        slot = max(now, state.next_at)
        state.next_at = slot + self.delay(state.count)
        return slot - now

    def failed(self, address: str) -> None:
        state = self._failures.get(address)
        if state is None:
            state = self._failures[address] = _Failures()
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)
        else:
            self._failures.move_to_end(address)
        state.count += 1
        state.next_at = max(state.next_at, self._clock() + self.delay(state.count))

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)


class ConnectionGate:
    def __init__(
        self, max_total: int = MAX_PENDING, max_per_address: int = MAX_PENDING_PER_ADDRESS
    ) -> None:
        self.max_total = max_total
        self.max_per_address = max_per_address
        self._pending: dict[Any, str] = {}  # peer (address, port, ...) -> address
        self._per_address: dict[str, int] = {}
        self.refused = 0
        self._log = RateLimitedLog(_LOGGER)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def admit(self, peer: Any) -> bool:
        address = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        if len(self._pending) >= self.max_total:
            why = f"{self.max_total} connections are already waiting to authenticate"
        elif self._per_address.get(address, 0) >= self.max_per_address:
            why = f"{self.max_per_address} of its connections are already waiting to authenticate"
        else:
            self._pending[peer] = address
            self._per_address[address] = self._per_address.get(address, 0) + 1
            return True
        self.refused += 1
        self._log.log(address, "refused a link connection from %s: %s", address, why)
        return False

    def release(self, peer: Any) -> None:
        """``peer`` authenticated or closed: it no longer counts (a second call does nothing)."""
        address = self._pending.pop(peer, None)
        if address is None:
            return
        left = self._per_address[address] - 1
        if left:
            self._per_address[address] = left
        else:
            del self._per_address[address]


class _CountedSocket(socket.socket):
    """An accepted connection that leaves the gate when it is closed."""

    gate: ConnectionGate | None = None
    peer: Any = None

    def close(self) -> None:
        if self.gate is not None:
            self.gate.release(self.peer)
            self.gate = None
        super().close()


class GatedListener(socket.socket):
    """A listening socket whose ``accept()`` closes at once what the gate does not admit."""

    gate: ConnectionGate

    @classmethod
    def bind_to(
        cls, host: str, port: int, gate: ConnectionGate, backlog: int = 100
    ) -> GatedListener:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = cls(family, kind, proto)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(address)
            listener.listen(backlog)
            listener.setblocking(False)
        except OSError:
            listener.close()
            raise
        listener.gate = gate
        return listener

    def accept(self) -> tuple[socket.socket, Any]:
        while True:
            fd, peer = self._accept()  # type: ignore[attr-defined]  # BlockingIOError: none left
            connection = _CountedSocket(self.family, self.type, self.proto, fileno=fd)
            if self.gate.admit(peer):
                connection.gate = self.gate
                connection.peer = peer
                return connection, peer
            connection.close()
