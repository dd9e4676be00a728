"""Repairs: the selected model shuts down soon (offer its successor), running on the legacy fallback,
and a satellite too old to speak the link (the one command that updates it)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.loader import async_get_integration
from homeassistant.util import dt as dt_util

from .const import (
    CONF_HOST,
    CONF_LEGACY_MODEL,
    CONF_MODEL,
    CONF_MODEL_SELECTION,
    DEFAULT_LEGACY_MODEL,
    DEFAULT_MODEL,
    DOMAIN,
    uses_realtime,
)
from .core.realtime import Fallback, registry
from .schema_library import vol

if TYPE_CHECKING:  # only for type checking: HA 2026.5 has no RepairsFlowResult
    from homeassistant.components.repairs import RepairsFlowResult

# Warn this many days before a model's shutdown.
SHUTDOWN_WARNING_DAYS = 90


def _shutdown_issue_id(entry: ConfigEntry, key: str) -> str:
    return f"model_shutdown_{entry.entry_id}_{key}"


@callback
def async_check_model_shutdown(
    hass: HomeAssistant, entry: ConfigEntry, today: date | None = None
) -> None:
    """Raise (or clear) an issue for each configured model whose shutdown is near or past."""
    today = today or dt_util.now().date()
    selection = entry.options.get(CONF_MODEL_SELECTION, "auto")
    models = {
        CONF_MODEL: entry.options.get(CONF_MODEL, DEFAULT_MODEL),
        CONF_LEGACY_MODEL: entry.options.get(CONF_LEGACY_MODEL, DEFAULT_LEGACY_MODEL),
    }
    in_use = (
        set()
        if not uses_realtime(entry.options)  # the pipeline (or Live with it): no Realtime model
        else {CONF_MODEL}
        if selection == "new"
        else {CONF_LEGACY_MODEL}
        if selection == "legacy"
        else set(models)
    )
    for key, model in models.items():
        issue_id = _shutdown_issue_id(entry, key)
        info = registry.lookup(model)
        if key not in in_use or info is None or info.shutdown is None:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
            continue
        days_left = (info.shutdown - today).days
        if days_left > SHUTDOWN_WARNING_DAYS:
            ir.async_delete_issue(hass, DOMAIN, issue_id)
            continue
        ir.async_create_issue(
            hass,
            DOMAIN,
            issue_id,
            is_fixable=info.successor is not None,
            severity=ir.IssueSeverity.ERROR if days_left <= 0 else ir.IssueSeverity.WARNING,
            translation_key="model_shut_down" if days_left <= 0 else "model_shutdown_soon",
            translation_placeholders={
                "name": entry.title,
                "model": model,
                "date": info.shutdown.isoformat(),
                "successor": info.successor or "-",
            },
            data={
                "entry_id": entry.entry_id,
                "key": key,
                "model": model,
                "date": info.shutdown.isoformat(),
                "successor": info.successor or "",
            },
        )


@callback
def async_report_fallback(
    hass: HomeAssistant, entry: ConfigEntry, fallback: Fallback | None
) -> None:
    """Tell the user when automatic selection fell back to the legacy model (and clear it when not)."""
    issue_id = f"legacy_fallback_{entry.entry_id}"
    if fallback is None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="legacy_fallback",
        translation_placeholders={
            "name": entry.title,
            "from_model": fallback.from_model,
            "to_model": fallback.to_model,
            "reason": fallback.reason,
        },
    )


@callback
def async_report_pipeline_fallback(
    hass: HomeAssistant,
    entry: ConfigEntry,
    cause: str | None,
    service: str = "the Realtime endpoint",
) -> None:
    """Tell the user that the Assist pipeline answers for ``service`` (the Realtime endpoint, or
    GPT-Live's), and why (``cause``, one of sensor.py's FALLBACK_CAUSES); None (recovered) clears
    it."""
    issue_id = f"pipeline_fallback_{entry.entry_id}"
    if cause is None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        # the user must act for some causes (a key, credit, a model); others pass by themselves
        severity=ir.IssueSeverity.ERROR
        if cause in ("invalid_api_key", "insufficient_quota", "model_not_found", "live_no_access")
        else ir.IssueSeverity.WARNING,
        learn_more_url=MODES_DOCS,
        translation_key=f"pipeline_fallback_{cause}",
        translation_placeholders={"name": entry.title, "service": service},
    )


MODES_DOCS = (
    "https://github.com/realtime-voice/ha-realtime-voice/blob/main/docs/configuration.md"
    "#realtime-with-pipeline-fallback"
)
# Where the satellite guide installs it (docs/satellite.md), and its service.
SATELLITE_VENV = "/opt/realtime-voice/.venv"
SATELLITE_SERVICE = "realtime-voice-satellite"
UPDATING_DOCS = (
    "https://github.com/realtime-voice/ha-realtime-voice/blob/main/docs/satellite.md#updating"
)


def satellite_update_command(version: str) -> str:
    """The one command, run on the Pi, that brings a satellite installed by the guide to
    ``version`` (pip's configured index, as scripts/install-satellite) and restarts it."""
    return (
        f"{SATELLITE_VENV}/bin/python -m pip install realtime-voice-satellite=={version} "
        f"&& sudo systemctl restart {SATELLITE_SERVICE}"
    )


async def async_report_outdated_satellite(
    hass: HomeAssistant, entry: ConfigEntry, *, outdated: bool
) -> None:
    """Raise the issue for a satellite that speaks only the unencrypted link (protocol 1 or 2,
    which HA no longer speaks, so it cannot be updated over the link), or clear it."""
    issue_id = f"satellite_outdated_{entry.entry_id}"
    if not outdated:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    version = str((await async_get_integration(hass, DOMAIN)).version)
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        learn_more_url=UPDATING_DOCS,
        translation_key="satellite_outdated",
        translation_placeholders={
            "name": entry.title,
            "host": str(entry.data[CONF_HOST]),
            "version": version,
            "command": satellite_update_command(version),
        },
    )


class ModelSuccessorFlow(RepairsFlow):
    """Switch the entry to the successor model."""

    def __init__(self, entry_id: str, key: str, model: str, date: str, successor: str) -> None:
        self._entry_id = entry_id
        self._key = key
        self._model = model
        self._date = date
        self._successor = successor

    async def async_step_init(self, user_input: dict[str, str] | None = None) -> RepairsFlowResult:
        return await self.async_step_confirm()

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        if user_input is not None:
            options = {**entry.options, self._key: self._successor}
            if self._key == CONF_LEGACY_MODEL:
                # The successor of a legacy model speaks the GA interface.
                options[CONF_MODEL] = self._successor
                options[CONF_MODEL_SELECTION] = "new"
            self.hass.config_entries.async_update_entry(entry, options=options)
            # another model: a new Realtime session
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
            return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="confirm",
            data_schema=vol.Schema({}),
            # what the issue's texts name too (strings.json, issues.model_shut*.fix_flow)
            description_placeholders={
                "name": entry.title,
                "model": self._model,
                "date": self._date,
                "successor": self._successor,
            },
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, str | int | float | None] | None
) -> RepairsFlow:
    assert data is not None
    return ModelSuccessorFlow(
        str(data["entry_id"]),
        str(data["key"]),
        str(data["model"]),
        str(data["date"]),
        str(data["successor"]),
    )
