"""A stand-in server as a process (``python -m tests.realtime_standin`` / ``tests.live_standin``):
TLS from a certificate file, the URL first on stdout, a banner on stderr, and serving until SIGINT
or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import sys
from pathlib import Path
from typing import Any, Protocol


class StandinServer(Protocol):
    url: str
    violations: list[Any]

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, *exc: object) -> Any: ...


def server_tls(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """wss:// with this certificate chain and key; None (ws://) without a certificate."""
    if cert is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


async def serve_until_signalled(server: StandinServer, banner: str) -> None:
    """Serve until SIGINT/SIGTERM; the URL is the first line on stdout, ``banner`` and the URL go to
    stderr, and the protocol violations seen are printed at the end."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with server:
        print(server.url, flush=True)
        print(f"{banner}, url={server.url}", file=sys.stderr, flush=True)
        await stop.wait()
        if server.violations:
            print(f"protocol violations: {server.violations}", file=sys.stderr, flush=True)
