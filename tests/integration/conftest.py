"""Fixtures for tests that run inside real Home Assistant (pytest-homeassistant-custom-component)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let HA load custom_components/realtime_voice in every test here."""
