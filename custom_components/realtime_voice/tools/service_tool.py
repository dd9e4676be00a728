"""HA services (actions) as function tools."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from homeassistant.components.homeassistant.exposed_entities import async_should_expose
from homeassistant.core import Context, HomeAssistant, SupportsResponse
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import service as service_helper
from homeassistant.helpers.translation import async_get_translations

from ..schema_library import vol
from .base import Tool, ToolRefusal, ToolSpec, ensure_exposed, validate_with_schema
from .const import ERR_NOT_FOUND, EXPOSE_ASSISTANT
from .names import ToolNamer, service_tool_name
from .selection import select_services
from .service_schema import TARGET_KEY, ServiceSchema, UnofferableService, build_service_schema

_LOGGER = logging.getLogger(__name__)


class ServiceTool(Tool):
    """Calls one service; entity ids limited to exposed entities; arguments checked first."""

    def __init__(
        self, hass: HomeAssistant, name: str, domain: str, service: str, schema: ServiceSchema
    ) -> None:
        """Keep what validation and the call need."""
        self._hass = hass
        self.domain = domain
        self.service = service
        self._schema = schema
        self.spec = ToolSpec(
            name=name, description=schema.description, parameters=schema.parameters
        )

    def validate(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """Tool schema, exposure of every entity id, then the service's own schema."""
        if isinstance(arguments.get(TARGET_KEY), str):
            # Models often send a single id where the schema says list; accept it as one.
            arguments = {**arguments, TARGET_KEY: [arguments[TARGET_KEY]]}
        data = validate_with_schema(self._schema.schema, arguments)
        entity_ids = [
            entity_id
            for key in self._schema.entity_fields
            if key in data
            for entity_id in cv.ensure_list(data[key])
        ]
        ensure_exposed(self._hass, entity_ids)
        registered = self._hass.services.async_services_for_domain(self.domain).get(self.service)
        if registered is None:
            raise ToolRefusal(
                ERR_NOT_FOUND, f"Action {self.domain}.{self.service} is no longer available."
            )
        if registered.schema is not None:
            validate_with_schema(vol.Schema(registered.schema), data)
        return data

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
    chosen = select_services(
        available, selections, allow_dangerous=allow_dangerous, targetless=targetless
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
        tools.append(ServiceTool(hass, name, domain, service, schema))
    if not tools:
        warnings.append(f"No service tool could be offered for the selection {sorted(selections)}")
    _LOGGER.debug("Service tools: %s", [tool.spec.name for tool in tools])
    return tools
