"""HA services (actions) as function tools."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.core import Context, HomeAssistant, SupportsResponse
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import service as service_helper
from homeassistant.helpers.translation import async_get_translations

from ..schema_library import vol
from .base import Tool, ToolRefusal, ToolSpec, ensure_exposed, validate_with_schema
from .const import ERR_NOT_FOUND, ERR_URL_NOT_ALLOWED, EXPOSE_ASSISTANT, URL_FIELD_NAMES
from .names import ToolNamer, service_tool_name
from .secure import secure_service_targets
from .selection import fetches_urls, select_services
from .service_schema import TARGET_KEY, ServiceSchema, UnofferableService, build_service_schema

_LOGGER = logging.getLogger(__name__)


class ServiceTool(Tool):
    """Calls one service; entity ids limited to exposed entities; arguments checked first."""

    def __init__(
        self,
        hass: HomeAssistant,
        name: str,
        domain: str,
        service: str,
        schema: ServiceSchema,
        *,
        media_hosts: Collection[str] | None = None,
    ) -> None:
        """Keep what validation and the call need; ``media_hosts`` (not None for a service that
        fetches URLs) are the hosts its URLs may name besides media-source IDs."""
        self._hass = hass
        self.domain = domain
        self.service = service
        self._schema = schema
        self._media_hosts = None if media_hosts is None else frozenset(media_hosts)
        self.spec = ToolSpec(
            name=name, description=schema.description, parameters=schema.parameters
        )

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Tool schema, exposure of every entity id, then the service's own schema."""
        if isinstance(arguments.get(TARGET_KEY), str):
            # Models often send a single id where the schema says list; accept it as one.
            arguments = {**arguments, TARGET_KEY: [arguments[TARGET_KEY]]}
        data = validate_with_schema(self._schema.schema, arguments)
        ensure_exposed(self._hass, self._entity_ids(data))
        if self._media_hosts is not None:
            check_urls(data, self._media_hosts)
        registered = self._hass.services.async_services_for_domain(self.domain).get(self.service)
        if registered is None:
            raise ToolRefusal(
                ERR_NOT_FOUND, f"Action {self.domain}.{self.service} is no longer available."
            )
        if registered.schema is not None:
            validate_with_schema(vol.Schema(registered.schema), data)
        return data

    def _entity_ids(self, data: Mapping[str, Any]) -> list[str]:
        return [
            entity_id
            for key in self._schema.entity_fields
            if key in data
            for entity_id in cv.ensure_list(data[key])
        ]

    def targets(self, data: Mapping[str, Any]) -> list[str]:
        """The entities validated arguments act on (a script's own service: that script too)."""
        entity_ids = self._entity_ids(data)
        if self.domain == "script" and self.service not in ("turn_on", "turn_off", "toggle"):
            entity_ids.append(f"script.{self.service}")
        return entity_ids

    def secure_targets(self, arguments: dict[str, Any], marked: Collection[str]) -> list[str]:
        """The secure entities this service call opens, unlocks or disarms (or acts on, marked)."""
        return secure_service_targets(
            self._hass, self.domain, self.service, self.targets(arguments), marked
        )

    async def async_run(
        self, arguments: dict[str, Any], context: Context, call_id: str
    ) -> dict[str, Any]:
        """Call the service and wait for it; return its response, if it has one."""
        supports = self._hass.services.supports_response(self.domain, self.service)
        response = await self._hass.services.async_call(
            self.domain,
            self.service,
            arguments,
            blocking=True,
            context=context,
            return_response=supports is not SupportsResponse.NONE,
        )
        # No states here: many entities (templates, radio devices) report theirs only later, and
        # a stale "off" would mislead the model; it can ask the state tool.
        result: dict[str, Any] = {"success": True}
        if response is not None:
            result["response"] = response
        return result


MEDIA_SOURCE_PREFIX = "media-source://"
# Schemes HA's media and HTTP helpers fetch even without "//" ("file:/etc/passwd", "data:...").
URL_SCHEMES = frozenset({"http", "https", "file", "data", "ftp"})


def check_urls(data: Mapping[str, Any], media_hosts: Collection[str]) -> None:
    """Refuse URLs HA would fetch unless they are media-source IDs or on an allowed host.

    Checked: every value of a media field (URL_FIELD_NAMES, whatever it looks like: a bare path is
    a file HA would read) and every other string that looks like a URL.
    """
    for key, value in _strings(data):
        if value.startswith(MEDIA_SOURCE_PREFIX):
            continue
        parts = urlsplit(value.strip())
        if key not in URL_FIELD_NAMES and not ("://" in value or parts.scheme in URL_SCHEMES):
            continue
        if parts.scheme in ("http", "https") and (parts.hostname or "") in media_hosts:
            continue
        allowed = ", ".join(sorted(media_hosts)) or "none set"
        raise ToolRefusal(
            ERR_URL_NOT_ALLOWED,
            f"{key}: {value[:200]!r} is not allowed; only media-source:// IDs and http(s) URLs "
            f"on the hosts the user allows in the satellite's options ({allowed}). Nothing was done.",
        )


def _strings(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """(field name, string) of every string in ``value``, nested ones under their own key."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        for child_key, child in value.items():
            yield from _strings(child, str(child_key))
    elif isinstance(value, list | tuple):
        for child in value:
            yield from _strings(child, key)


def exposed_entity_ids(hass: HomeAssistant) -> list[str]:
    """Entity ids of all current states exposed to Assist."""
    return sorted(
        state.entity_id
        for state in hass.states.async_all()
        if async_should_expose(hass, EXPOSE_ASSISTANT, state.entity_id)
    )


def with_translations(
    description: Mapping[str, Any], translations: Mapping[str, str], domain: str, service: str
) -> dict[str, Any]:
    """The service description with the texts of HA's translations where it has none.

    Since 2026 HA keeps a service's name and descriptions only in its translations (strings.json),
    no longer merged into the description; the model needs them to pick and fill a tool.
    """
    prefix = f"component.{domain}.services.{service}"

    def texts(config: Mapping[str, Any], key: str) -> dict[str, Any]:
        result = dict(config)
        for text in ("name", "description"):
            if not result.get(text) and (translated := translations.get(f"{key}.{text}")):
                result[text] = translated
        return result

    def fields(configs: Mapping[str, Any]) -> dict[str, Any]:
        # a collapsible section holds fields of its own; their keys are still fields.<name>
        return {
            key: (
                {**config, "fields": fields(config["fields"])}
                if isinstance(config, Mapping) and isinstance(config.get("fields"), Mapping)
                else texts(config, f"{prefix}.fields.{key}")
            )
            for key, config in configs.items()
        }

    result = texts(description, prefix)
    if isinstance(description.get("fields"), Mapping):
        result["fields"] = fields(description["fields"])
    return result


async def async_build_service_tools(
    hass: HomeAssistant,
    selections: list[str],
    *,
    allow_dangerous: bool,
    namer: ToolNamer,
    exposed: list[str],
    warnings: list[str],
    media_hosts: Collection[str] = (),
) -> list[ServiceTool]:
    """One tool per allowed service; services that cannot be offered are noted in `warnings`."""
    if not selections:
        return []
    available = {domain: list(s) for domain, s in hass.services.async_services().items()}
    descriptions = await service_helper.async_get_all_descriptions(hass)
    # A service that targets no entity escapes the exposure check: wildcards never select it. A
    # script's own service stands for its entity, so an exposed script counts as a target.
    targetless = {
        f"{domain}.{service}"
        for domain, services in descriptions.items()
        for service, description in services.items()
        if not (description or {}).get("target")
        and not (domain == "script" and f"script.{service}" in exposed)
    }
    url_fetching = {
        f"{domain}.{service}"
        for domain, services in available.items()
        for service in services
        if fetches_urls(f"{domain}.{service}", descriptions.get(domain, {}).get(service))
    }
    chosen = select_services(
        available,
        selections,
        allow_dangerous=allow_dangerous,
        exact_only=targetless | url_fetching,
    )
    translations = await async_get_translations(
        hass, hass.config.language, "services", {domain for domain, _ in chosen}
    )
    tools: list[ServiceTool] = []
    for domain, service in chosen:
        description = with_translations(
            descriptions.get(domain, {}).get(service) or {}, translations, domain, service
        )
        try:
            schema = build_service_schema(domain, service, description, exposed)
        except UnofferableService as err:
            warnings.append(str(err))
            continue
        if schema.target_entity_ids == ():
            warnings.append(f"{domain}.{service}: no exposed entity it could act on")
            continue
        name = namer.claim(service_tool_name(domain, service))
        tools.append(
            ServiceTool(
                hass,
                name,
                domain,
                service,
                schema,
                media_hosts=media_hosts if f"{domain}.{service}" in url_fetching else None,
            )
        )
    if not tools:
        warnings.append(f"No service tool could be offered for the selection {sorted(selections)}")
    _LOGGER.debug("Service tools: %s", [tool.spec.name for tool in tools])
    return tools
