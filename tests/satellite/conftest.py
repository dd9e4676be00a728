"""Satellite tests run real servers on loopback: sockets are allowed (to 127.0.0.1 only)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """pytest-homeassistant-custom-component blocks sockets; the allow-list stays 127.0.0.1."""
