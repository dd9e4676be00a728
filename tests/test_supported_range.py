"""The supported Home Assistant range is declared once (scripts/ha-versions) and said the same way in
hacs.json (what HACS enforces) and the docs (what users read)."""

from __future__ import annotations

import json
from pathlib import Path

from .test_setup_script import ha_versions

ROOT = Path(__file__).resolve().parents[1]


def as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_hacs_requires_the_oldest_tested_release() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["homeassistant"] == ha_versions()["HA_OLDEST"]


def test_the_range_covers_the_last_six_months_of_releases() -> None:
    """Users of the last six months of releases (2026.6 and later in 2026-12) can install."""
    versions = ha_versions()
    assert as_tuple(versions["HA_OLDEST"]) <= (2026, 5, 0)
    assert as_tuple(versions["HA_OLDEST"]) < as_tuple(versions["HA_TEST"])
    assert as_tuple(versions["HA_TEST"]) <= as_tuple(versions["HA_NEWEST"])


def test_installation_docs_state_the_range_and_python() -> None:
    versions = ha_versions()
    text = (ROOT / "docs" / "installation.md").read_text()
    assert (
        f"Home Assistant {versions['HA_OLDEST']} to {versions['HA_NEWEST'].rsplit('.', 1)[0]}"
        in text
    )
    assert f"Python >= {versions['HA_PYTHON_MIN']}" in text
    for key in ("HA_TEST", "HA_NEWEST", "HA_OLDEST"):
        assert versions[key] in text


def test_the_integration_checks_the_same_oldest_release() -> None:
    text = (ROOT / "custom_components" / "realtime_voice" / "supported_version.py").read_text()
    assert f'MIN_HA_VERSION = "{ha_versions()["HA_OLDEST"]}"' in text
