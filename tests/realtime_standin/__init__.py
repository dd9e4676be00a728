"""SIMULATION of OpenAI's Realtime service for tests and demos (never talks to OpenAI).

In-process::

    async with StandinServer(StandinConfig(endpoint="ga")) as server:
        ...connect to server.url...
        assert server.client_violations == []

As a process: ``python -m tests.realtime_standin --port 0 --endpoint ga|beta|both|bad-key|
bad-key-http [--script FILE.json] ...``; the first line on stdout is the URL.
"""

from .server import (
    BETA_MODELS,
    GA_MODELS,
    ConnectionRecord,
    StandinConfig,
    StandinProtocolError,
    StandinServer,
    ToolScript,
)
from .validation import Problem, validate

__all__ = [
    "BETA_MODELS",
    "GA_MODELS",
    "ConnectionRecord",
    "Problem",
    "StandinConfig",
    "StandinProtocolError",
    "StandinServer",
    "ToolScript",
    "validate",
]
