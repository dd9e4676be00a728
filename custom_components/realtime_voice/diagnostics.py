"""Diagnostics for a satellite: configuration (secrets redacted), its account (the key and endpoint
redacted), link, session and metrics; for an account: its configuration and satellites."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from . import RealtimeVoiceConfigEntry
from .account import account_of, is_account, satellites_of
from .const import CONF_ACCESS_KEY, CONF_API_KEY, CONF_URL, DEFAULT_URL
from .tools.const import CONF_SECURE_PIN

# The endpoint URL too: Azure and proxy URLs can carry a key or a signature in their query; and
# the spoken PIN of secure devices.
TO_REDACT = {CONF_API_KEY, CONF_ACCESS_KEY, CONF_URL, CONF_SECURE_PIN}


def _account(entry: ConfigEntry) -> dict[str, Any]:
    return {
        "entry_id": entry.entry_id,
        "title": entry.title,
        "data": async_redact_data(dict(entry.data), TO_REDACT),
        # what the URL may tell without showing it: OpenAI's own endpoint or another
        "url_is_default": entry.data.get(CONF_URL, DEFAULT_URL) == DEFAULT_URL,
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: RealtimeVoiceConfigEntry
) -> dict[str, Any]:
    if is_account(entry):
        return {
            "account": _account(entry),
            "satellites": sorted(satellite.title for satellite in satellites_of(hass, entry)),
        }
    account = account_of(hass, entry)
    link = entry.runtime_data.link
    manager = entry.runtime_data.manager
    session = manager.session
    return {
        "entry": {
            "title": entry.title,
            "data": async_redact_data(dict(entry.data), TO_REDACT),
            "options": async_redact_data(dict(entry.options), TO_REDACT),
        },
        "account": None if account is None else _account(account),
        "link": {
            "available": link.available,
            "reconnects": link.reconnects,
            "last_error": link.last_error,
            "info": None if link.info is None else asdict(link.info),
        },
        "session": {
            "state": manager.state,
            "figures": asdict(manager.figures),
            "model": None if session is None else session.model,
            "interface": None if session is None else session.interface,
            "voice": None if session is None else session.voice,
            "metrics": None if session is None else session.metrics.as_dict(),
        },
        # the fallback mode: which brain answers and why (causes are codes: no secret in them)
        "pipeline_fallback": None
        if manager.fallback is None
        else {
            **asdict(manager.fallback.status),
            "since": None
            if manager.fallback.status.since is None
            else manager.fallback.status.since.isoformat(),
        },
    }
