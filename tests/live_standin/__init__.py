"""SIMULATION of OpenAI's GPT-Live service (``/v1/live/sessions``) for tests and demos.

It never talks to OpenAI. Every client event is validated against ``openai.types.live``'s
``ClientEvent`` and every event it sends against ``ServerEvent`` (unknown fields rejected, as the
service does); ``client_violations`` lists what a client got wrong and tests assert it is empty.
The behaviour (talk after silence, stop on speech over its voice, delegation, usage, closing, the
clock that moves only with input audio) is described in ``server.py``.

In-process (needs openai >= 3.26 for ``openai.types.live``: the host .venv)::

    async with LiveStandinServer(LiveStandinConfig(transcripts=("Turn on the light",))) as server:
        ...connect to server.url with "Authorization: Bearer <any key>"...
        assert server.client_violations == []

As a process (how tests running in Home Assistant's environment use it: HA 2026.10's openai 3.10
has no ``openai.types.live``, so it runs from the host .venv)::

    .venv/bin/python -m tests.live_standin --port 0 [--access full|model_not_found|http-403]
        [--api-key KEY] [--script FILE.json] [--transcript T] [--reply R] [--audio tone|espeak]
        [--usage-interval S] [--max-session-seconds S] [--tls-cert PEM --tls-key PEM]

Run it with the repository root as the working directory. The first line on stdout is the URL
(``ws://127.0.0.1:PORT/v1/live/sessions``, ``wss://`` with TLS); a banner and every protocol
violation go to stderr as they happen ("protocol violation: client ..."), so a test asserts that
stderr has none after terminating it (SIGTERM: it exits cleanly). ``tests.live_standin.testing``
has ``start_process`` for that, and imports without ``openai.types.live`` (this package exports
lazily), so a test in Home Assistant's environment can use it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import (
        LIVE_MODELS,
        LIVE_VOICES,
        LiveConnectionRecord,
        LiveProtocolError,
        LiveStandinConfig,
        LiveStandinServer,
    )
    from .validation import validate

# Exported lazily: ``tests.live_standin.testing`` must import where ``openai.types.live`` does not
# exist (Home Assistant's environment), and importing this package runs this file first.
_EXPORTS = {
    "LIVE_MODELS": "server",
    "LIVE_VOICES": "server",
    "LiveConnectionRecord": "server",
    "LiveProtocolError": "server",
    "LiveStandinConfig": "server",
    "LiveStandinServer": "server",
    "validate": "validation",
}
__all__ = [
    "LIVE_MODELS",
    "LIVE_VOICES",
    "LiveConnectionRecord",
    "LiveProtocolError",
    "LiveStandinConfig",
    "LiveStandinServer",
    "validate",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
