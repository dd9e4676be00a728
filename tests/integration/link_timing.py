"""Faster link timing for tests that wait for reconnects."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest


def reconnect_quickly(monkeypatch: pytest.MonkeyPatch, every: float = 0.05) -> None:
    """Reconnect every ``every`` seconds instead of the 1 s .. 60 s backoff, so that a test sees
    many attempts."""

    def delays() -> Iterator[float]:
        return itertools.repeat(every)

    monkeypatch.setattr("custom_components.realtime_voice.satellite_link.backoff_delays", delays)
