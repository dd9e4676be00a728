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

As a process (from the repository root)::

    .venv/bin/python -m tests.live_standin --port 0 [--access full|model_not_found|http-403]
        [--api-key KEY] [--script FILE.json] [--transcript T] [--reply R] [--audio tone|espeak]
        [--usage-interval S] [--max-session-seconds S] [--pause-ms MS]
        [--close-during answer|delegation [--close-reason REASON]] [--tls-cert PEM --tls-key PEM]

The first line on stdout is the URL (``ws://127.0.0.1:PORT/v1/live/sessions``, ``wss://`` with
TLS); a banner and every protocol violation go to stderr as they happen ("protocol violation:
client ..."), so a test asserts that stderr has none after terminating it (SIGTERM: it exits
cleanly).

From Home Assistant's test environment (``scripts/ha-run test``: openai 3.10 without
``openai.types.live``, inside a root filesystem where the host's Python is not visible) use
``tests.live_standin.testing.start_process``: that module imports there (this package exports
lazily), and it runs the stand-in with that environment's interpreter and the host .venv's
``openai`` package linked in front of its own (tests/integration/test_live_standin_process.py).
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
