"""The tools' part of the options flow, and reading the tool options of an entry."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import llm, selector
from homeassistant.helpers import service as service_helper

from ..schema_library import vol
from .const import (
    CONF_ALLOW_DANGEROUS_SERVICES,
    CONF_LLM_HASS_API,
    CONF_MAX_TOOL_CALLS_PER_TURN,
    CONF_MEDIA_HOSTS,
    CONF_SECURE_ENTITIES,
    CONF_SECURE_PIN,
    CONF_TOOL_CALL_TIMEOUT,
    CONF_TOOL_SERVICES,
    DEFAULT_ALLOW_DANGEROUS_SERVICES,
    DEFAULT_LLM_HASS_API,
    DEFAULT_MAX_TOOL_CALLS_PER_TURN,
    DEFAULT_MEDIA_HOSTS,
    DEFAULT_SECURE_ENTITIES,
    DEFAULT_TOOL_CALL_TIMEOUT,
    DEFAULT_TOOL_SERVICES,
    MAX_TOOL_CALLS_PER_TURN_RANGE,
    SECURE_PIN_RE,
    TOOL_CALL_TIMEOUT_RANGE,
)
from .selection import invalid_selections, offered_services

# Error keys (translations under options.error) returned by validate_tool_options.
ERROR_INVALID_SERVICE = "invalid_service"
ERROR_UNKNOWN_LLM_API = "unknown_llm_api"
ERROR_ADMIN_LLM_API = "admin_llm_api"
ERROR_INVALID_PIN = "invalid_pin"
ERROR_INVALID_MEDIA_HOST = "invalid_media_host"

# A host name or address as the user would type it (no scheme, path or port).
_HOST_RE = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$"
)


def requires_admin(api: llm.API) -> bool:
    """Whether HA gives the API only to an admin user (HA 2026.11's "homeassistant" API, which
    manages HA itself); older releases have no such API."""
    return bool(getattr(api, "requires_admin", False))


def offered_llm_apis(hass: HomeAssistant) -> list[llm.API]:
    """The LLM APIs a satellite can use: a voice conversation runs as no user (whoever is in the
    room speaks), so not those that need an admin user."""
    return [api for api in llm.async_get_apis(hass) if not requires_admin(api)]


@dataclass(frozen=True, slots=True)
class ToolSettings:
    """The tool options of an entry with defaults applied; keyword arguments of the build."""

    llm_api_ids: list[str]
    services: list[str]
    allow_dangerous_services: bool
    max_calls_per_turn: int
    call_timeout_s: float
    secure_entities: list[str]
    secure_pin: str | None = field(repr=False)
    media_hosts: list[str]


def tool_settings(options: Mapping[str, Any]) -> ToolSettings:
    """Read the tool options (missing keys get their defaults)."""
    return ToolSettings(
        llm_api_ids=list(options.get(CONF_LLM_HASS_API, DEFAULT_LLM_HASS_API)),
        services=list(options.get(CONF_TOOL_SERVICES, DEFAULT_TOOL_SERVICES)),
        allow_dangerous_services=bool(
            options.get(CONF_ALLOW_DANGEROUS_SERVICES, DEFAULT_ALLOW_DANGEROUS_SERVICES)
        ),
        max_calls_per_turn=int(
            options.get(CONF_MAX_TOOL_CALLS_PER_TURN, DEFAULT_MAX_TOOL_CALLS_PER_TURN)
        ),
        call_timeout_s=float(options.get(CONF_TOOL_CALL_TIMEOUT, DEFAULT_TOOL_CALL_TIMEOUT)),
        secure_entities=list(options.get(CONF_SECURE_ENTITIES, DEFAULT_SECURE_ENTITIES)),
        secure_pin=options.get(CONF_SECURE_PIN) or None,
        media_hosts=list(options.get(CONF_MEDIA_HOSTS, DEFAULT_MEDIA_HOSTS)),
    )


def _service_option(hass: HomeAssistant, service_id: str) -> selector.SelectOptionDict:
    domain, service = service_id.split(".", 1)
    label = service_id
    if (
        service != "*"
        and (
            description := service_helper.async_get_cached_service_description(
                hass, domain, service
            )
        )
        and (name := description.get("name"))
    ):
        label = f"{service_id} ({name})"
    return selector.SelectOptionDict(value=service_id, label=label)


def tool_options_schema(hass: HomeAssistant, options: Mapping[str, Any]) -> dict[vol.Marker, Any]:
    """Fields of the tool options for the options flow's schema, pre-filled from `options`.

    Values are suggested rather than defaulted so that the user can clear the multi-selects; pass
    the submitted input through `normalize_tool_options`.
    """
    settings = tool_settings(options)
    apis = [
        selector.SelectOptionDict(value=api.id, label=api.name) for api in offered_llm_apis(hass)
    ]
    services = [_service_option(hass, s) for s in offered_services(hass.services.async_services())]
    schema: dict[vol.Marker, Any] = {
        vol.Optional(
            CONF_LLM_HASS_API, description={"suggested_value": settings.llm_api_ids}
        ): selector.SelectSelector(selector.SelectSelectorConfig(options=apis, multiple=True)),
        vol.Optional(
            CONF_TOOL_SERVICES, description={"suggested_value": settings.services}
        ): selector.SelectSelector(
            selector.SelectSelectorConfig(
                options=services,
                multiple=True,
                custom_value=True,
                mode=selector.SelectSelectorMode.DROPDOWN,
            )
        ),
    }
    # Always shown (off by default): HA deprecated the "advanced mode" flag that used to hide it.
    schema[
        vol.Optional(CONF_ALLOW_DANGEROUS_SERVICES, default=settings.allow_dangerous_services)
    ] = selector.BooleanSelector()
    schema[vol.Optional(CONF_MAX_TOOL_CALLS_PER_TURN, default=settings.max_calls_per_turn)] = (
        selector.NumberSelector(
            selector.NumberSelectorConfig(
                min=MAX_TOOL_CALLS_PER_TURN_RANGE[0],
                max=MAX_TOOL_CALLS_PER_TURN_RANGE[1],
                step=1,
                mode=selector.NumberSelectorMode.BOX,
            )
        )
    )
    schema[vol.Optional(CONF_TOOL_CALL_TIMEOUT, default=settings.call_timeout_s)] = (
        selector.NumberSelector(
            selector.NumberSelectorConfig(
                min=TOOL_CALL_TIMEOUT_RANGE[0],
                max=TOOL_CALL_TIMEOUT_RANGE[1],
                step=0.5,
                unit_of_measurement="s",
                mode=selector.NumberSelectorMode.BOX,
            )
        )
    )
    schema[
        vol.Optional(
            CONF_SECURE_ENTITIES, description={"suggested_value": settings.secure_entities}
        )
    ] = selector.EntitySelector(selector.EntitySelectorConfig(multiple=True))
    schema[vol.Optional(CONF_SECURE_PIN, description={"suggested_value": settings.secure_pin})] = (
        selector.TextSelector(selector.TextSelectorConfig(type=selector.TextSelectorType.PASSWORD))
    )
    schema[
        vol.Optional(CONF_MEDIA_HOSTS, description={"suggested_value": settings.media_hosts})
    ] = selector.SelectSelector(
        selector.SelectSelectorConfig(options=[], multiple=True, custom_value=True)
    )
    return schema


def normalize_tool_options(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """The submitted tool options in stored form: cleared multi-selects become [], counts ints."""
    return {
        CONF_LLM_HASS_API: list(user_input.get(CONF_LLM_HASS_API, [])),
        CONF_TOOL_SERVICES: sorted(
            {s.strip().lower() for s in user_input.get(CONF_TOOL_SERVICES, [])}
        ),
        CONF_ALLOW_DANGEROUS_SERVICES: bool(
            user_input.get(CONF_ALLOW_DANGEROUS_SERVICES, DEFAULT_ALLOW_DANGEROUS_SERVICES)
        ),
        CONF_MAX_TOOL_CALLS_PER_TURN: int(
            user_input.get(CONF_MAX_TOOL_CALLS_PER_TURN, DEFAULT_MAX_TOOL_CALLS_PER_TURN)
        ),
        CONF_TOOL_CALL_TIMEOUT: float(
            user_input.get(CONF_TOOL_CALL_TIMEOUT, DEFAULT_TOOL_CALL_TIMEOUT)
        ),
        CONF_SECURE_ENTITIES: sorted(set(user_input.get(CONF_SECURE_ENTITIES, []))),
        CONF_SECURE_PIN: str(user_input.get(CONF_SECURE_PIN) or "").strip(),
        CONF_MEDIA_HOSTS: sorted(
            {h.strip().lower() for h in user_input.get(CONF_MEDIA_HOSTS, []) if h.strip()}
        ),
    }


def validate_tool_options(
    hass: HomeAssistant, user_input: Mapping[str, Any]
) -> tuple[dict[str, str], dict[str, str]]:
    """Errors (field -> translation key) and description placeholders naming the bad values."""
    errors: dict[str, str] = {}
    placeholders: dict[str, str] = {}
    if bad := invalid_selections(s.strip().lower() for s in user_input.get(CONF_TOOL_SERVICES, [])):
        errors[CONF_TOOL_SERVICES] = ERROR_INVALID_SERVICE
        placeholders["invalid_services"] = ", ".join(bad)
    pin = str(user_input.get(CONF_SECURE_PIN) or "").strip()
    if pin and not re.match(SECURE_PIN_RE, pin):
        # The PIN is a secret: the error says what is wrong, never the value.
        errors[CONF_SECURE_PIN] = ERROR_INVALID_PIN
    if bad_hosts := [
        h for h in user_input.get(CONF_MEDIA_HOSTS, []) if not _HOST_RE.match(h.strip().lower())
    ]:
        errors[CONF_MEDIA_HOSTS] = ERROR_INVALID_MEDIA_HOST
        placeholders["invalid_media_hosts"] = ", ".join(bad_hosts)
    apis = {api.id: api for api in llm.async_get_apis(hass)}
    chosen = list(user_input.get(CONF_LLM_HASS_API, []))
    if unknown := [a for a in chosen if a not in apis]:
        errors[CONF_LLM_HASS_API] = ERROR_UNKNOWN_LLM_API
        placeholders["unknown_llm_apis"] = ", ".join(unknown)
    elif admin := [a for a in chosen if requires_admin(apis[a])]:
        errors[CONF_LLM_HASS_API] = ERROR_ADMIN_LLM_API
        placeholders["admin_llm_apis"] = ", ".join(admin)
    return errors, placeholders
