"""The oldest Home Assistant this integration supports, checked before anything else is imported.

HACS refuses to install on an older release (hacs.json); a manual install there would fail on a
missing helper with a traceback. This turns that into one message naming the version needed.
Keep MIN_HA_VERSION equal to hacs.json's "homeassistant" (tests/test_supported_range.py checks).
Each release's section of CHANGELOG.md names the Home Assistant it needs (scripts/release checks),
which is where the message sends a user who cannot update Home Assistant.
"""

from __future__ import annotations

from awesomeversion import AwesomeVersion
from homeassistant.const import __version__ as HA_VERSION

MIN_HA_VERSION = "2026.5.0"
CHANGELOG_URL = "https://github.com/realtime-voice/ha-realtime-voice/blob/main/CHANGELOG.md"


class UnsupportedHomeAssistantError(ImportError):
    """This Home Assistant is older than MIN_HA_VERSION."""


def check_home_assistant_version(version: str = HA_VERSION) -> None:
    """Raise UnsupportedHomeAssistantError naming the version needed when ``version`` is older."""
    if AwesomeVersion(version) < AwesomeVersion(MIN_HA_VERSION):
        raise UnsupportedHomeAssistantError(
            f"Realtime Voice Satellite needs Home Assistant {MIN_HA_VERSION} or newer; this is "
            f"{version}. Update Home Assistant, or install a release of this integration that "
            f"supports {version}: each release's section of {CHANGELOG_URL} names the Home "
            "Assistant it needs."
        )
