"""The satellite's software as an update entity, as ESPHome's devices have one.

Installed: the version the satellite reports on the link. Latest: the version this integration
wants (its own: the two are released together, CHANGELOG.md). Installing sends the link's
``update``: the satellite installs exactly that release with pip and restarts in place; the entity
shows its progress, and is done when the satellite is back with that version (docs/satellite.md
"Updating"). A failure leaves the satellite's running version as it was, and names the cause.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeassistant.components.update import (
    UpdateEntity,
    UpdateEntityDescription,
    UpdateEntityFeature,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.loader import async_get_integration

from . import RealtimeVoiceConfigEntry
from .const import DOMAIN
from .core.conversation import SatelliteOfflineError
from .entity import RealtimeVoiceEntity
from .satellite_link import SatelliteUpdateError

# Commands go over the one link to the satellite: one at a time.
PARALLEL_UPDATES = 1

SOFTWARE = UpdateEntityDescription(key="software", translation_key="software")
# CHANGELOG.md's section of this integration's version, which scripts/release writes here (HACS
# ships only this folder, not the repository's CHANGELOG.md).
RELEASE_NOTES = Path(__file__).with_name("release_notes.md")
RELEASES = "https://github.com/realtime-voice/ha-realtime-voice/releases"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: RealtimeVoiceConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    integration = await async_get_integration(hass, DOMAIN)
    async_add_entities([SatelliteUpdateEntity(entry, str(integration.version))])


def release_notes(version: str) -> str:
    """The notes of ``version`` (the file's first line is its changelog heading, ``## [X] ...``);
    without them (an installation between releases), where to read the changelog."""
    try:
        text = RELEASE_NOTES.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    if text.startswith(f"## [{version}]"):
        return text
    return f"No release notes for {version} here: see the changelog ({RELEASES})."


class SatelliteUpdateEntity(RealtimeVoiceEntity, UpdateEntity):
    _attr_supported_features = (
        UpdateEntityFeature.INSTALL
        | UpdateEntityFeature.PROGRESS
        | UpdateEntityFeature.RELEASE_NOTES
    )
    _attr_title = "Realtime Voice satellite"

    def __init__(self, entry: RealtimeVoiceConfigEntry, latest: str) -> None:
        super().__init__(entry, SOFTWARE)
        self._latest = latest
        self._attr_release_url = f"{RELEASES}/tag/v{latest}"

    @property
    def installed_version(self) -> str | None:
        return self._link.version

    @property
    def latest_version(self) -> str:
        return self._latest

    @property
    def in_progress(self) -> bool:
        return self._link.update_progress is not None

    @property
    def update_percentage(self) -> int | None:
        progress = self._link.update_progress
        return None if progress is None else progress.progress

    async def async_release_notes(self) -> str | None:
        return await self.hass.async_add_executor_job(release_notes, self._latest)

    async def async_install(self, version: str | None, backup: bool, **kwargs: Any) -> None:
        # Only this integration's own version: no SPECIFIC_VERSION, so HA passes no other.
        try:
            await self._link.install_update(self._latest)
        except SatelliteOfflineError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="satellite_offline",
                translation_placeholders={"name": self._entry.title},
            ) from err
        except SatelliteUpdateError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="update_failed",
                translation_placeholders={
                    "name": self._entry.title,
                    "version": self._latest,
                    "error": str(err),
                },
            ) from err
