"""An older Home Assistant gets one message naming the release needed, never a traceback from a
helper that release lacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from custom_components.realtime_voice.supported_version import (
    MIN_HA_VERSION,
    UnsupportedHomeAssistantError,
    check_home_assistant_version,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("version", [MIN_HA_VERSION, "2026.10.4", "2026.11.0", "2027.1.0b0"])
def test_supported_releases_pass(version: str) -> None:
    check_home_assistant_version(version)


@pytest.mark.parametrize("version", ["2025.4.4", "2026.4.3", "2026.5.0b3"])
def test_older_releases_are_named(version: str) -> None:
    with pytest.raises(UnsupportedHomeAssistantError) as raised:
        check_home_assistant_version(version)
    assert f"needs Home Assistant {MIN_HA_VERSION} or newer; this is {version}" in str(raised.value)


def test_importing_the_integration_on_an_older_release_says_what_is_needed() -> None:
    """What HA's loader reports ("Error occurred loading flow for integration realtime_voice: ...")
    is this message; the check runs before any import that needs a newer HA."""
    code = (
        "import homeassistant.const as const\n"
        "const.__version__ = '2025.4.4'\n"
        "import custom_components.realtime_voice\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 1
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        "custom_components.realtime_voice.supported_version.UnsupportedHomeAssistantError: "
        f"Realtime Voice Satellite needs Home Assistant {MIN_HA_VERSION} or newer; this is "
        "2025.4.4. Update Home Assistant, or install a release of this integration that supports "
        "2025.4.4: each release's section of "
        "https://github.com/realtime-voice/ha-realtime-voice/blob/main/CHANGELOG.md names the Home "
        "Assistant it needs."
    )
    assert "session_manager" not in result.stderr  # nothing else was imported first
