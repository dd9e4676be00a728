"""Ports on 127.0.0.1 for the servers a test starts, and a relay to put in their path."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Self


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether ``port`` on 127.0.0.1 can be bound now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class TcpRelay:
    """A loopback TCP relay to ``target_port``, as anything on the LAN could sit in the path.

    It keeps a copy of the bytes each way (``to_target``, ``to_client``), can write bytes of its own
    towards the target inside the running connection (``inject``), and can freeze: set ``frozen``
    and it forwards nothing more, not even the end of a connection, like a pulled cable.
    ``async with TcpRelay(port) as relay:`` starts it for the block.
    """

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self._upstream: list[asyncio.StreamWriter] = []
        self.to_target = bytearray()
        self.to_client = bytearray()
        self.frozen = asyncio.Event()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        self._writers += [writer, up_writer]
        self._upstream.append(up_writer)
        for src, dst, copy in (
            (reader, up_writer, self.to_target),
            (up_reader, writer, self.to_client),
        ):
            task = asyncio.create_task(self._pump(src, dst, copy))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, copy: bytearray
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                if self.frozen.is_set():
                    continue  # swallowed: the far side never hears of it
                copy += data
                dst.write(data)
                await dst.drain()
        if not self.frozen.is_set():
            dst.close()

    async def inject(self, data: bytes) -> None:
        """Bytes of the relay's own, towards the target, inside the newest connection."""
        writer = self._upstream[-1]
        writer.write(data)
        await writer.drain()

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
