"""A service's description (fields, selectors, target) as a schema (probatio or voluptuous) and a JSON schema."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.core import split_entity_id
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers import llm, selector

from ..schema_library import to_json_schema, vol

# HA's own selector -> JSON schema converter keeps our schemas identical to the Assist API's.
selector_serializer: Callable[[Any], Any] = llm.selector_serializer

TARGET_KEY = "entity_id"

# Selectors that address entities through areas, devices, floors or labels: they would reach
# entities the user did not expose, so such fields are left out of the tool.
_UNSAFE_SELECTORS: tuple[type[selector.Selector[Any]], ...] = (
    selector.AreaSelector,
    selector.DeviceSelector,
    selector.FloorSelector,
    selector.LabelSelector,
    selector.TargetSelector,
)


class UnofferableService(Exception):
    """The service cannot be offered as a tool (e.g. it requires an area or device field)."""


@dataclass(frozen=True, slots=True)
class ServiceSchema:
    """Everything the tool needs from a service description."""

    description: str
    schema: vol.Schema
    parameters: dict[str, Any]
    # Fields whose values are entity ids (the target and entity selector fields).
    entity_fields: tuple[str, ...]
    # Exposed entities the target accepts; None when the service has no target.
    target_entity_ids: tuple[str, ...] | None


def flatten_fields(fields: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Fields with the collapsible sections (e.g. light.turn_on's advanced_fields) opened up.

    HA 2025.4's own helper (llm._get_cached_action_parameters) would take a section for a field.
    """
    flat: dict[str, dict[str, Any]] = {}
    for key, config in fields.items():
        if isinstance(config, Mapping) and isinstance(config.get("fields"), Mapping):
            flat.update(flatten_fields(config["fields"]))
        else:
            flat[key] = dict(config or {})
    return flat


def target_domains(target: Mapping[str, Any] | None) -> list[str]:
    """Domains named by a service's target entity filters; empty means any domain."""
    if not target:
        return []
    filters = target.get("entity") or []
    if isinstance(filters, Mapping):
        filters = [filters]
    domains: list[str] = []
    for entity_filter in filters:
        domain = entity_filter.get("domain")
        if not domain:
            return []
        domains.extend(cv.ensure_list(domain))
    return sorted(set(domains))


def _field_description(config: Mapping[str, Any], key: str) -> str:
    text = config.get("description") or config.get("name") or key
    if (example := config.get("example")) is not None:
        text = f"{text} Example: {example}"
    return str(text)


def _tool_description(domain: str, service: str, description: Mapping[str, Any]) -> str:
    parts = [f"Home Assistant action {domain}.{service}"]
    if name := description.get("name"):
        parts.append(str(name))
    if text := description.get("description"):
        parts.append(str(text))
    if "target" in description:
        parts.append("Pass the entities to act on in entity_id")
    return ". ".join(p.rstrip(".") for p in parts) + "."


def build_service_schema(
    domain: str,
    service: str,
    description: Mapping[str, Any],
    exposed_entity_ids: Iterable[str],
) -> ServiceSchema:
    """Build the schemas of the tool for `domain.service` from its description.

    Raises UnofferableService when a required field could reach entities beyond the exposed ones.
    """
    schema: dict[vol.Marker, Any] = {}
    entity_fields: list[str] = []
    target = description.get("target")
    domains = target_domains(target) if target is not None else []

    if target is not None:
        # Only entity ids: area/device/floor/label targets would reach unexposed entities.
        schema[vol.Required(TARGET_KEY, description="Entity ids to act on")] = (
            selector.EntitySelector(selector.EntitySelectorConfig(multiple=True, domain=domains))
        )
        entity_fields.append(TARGET_KEY)

    for key, config in flatten_fields(description.get("fields") or {}).items():
        if key in schema or (target is not None and key == TARGET_KEY):
            continue
        validator: Any = (
            selector.selector(config["selector"]) if "selector" in config else cv.string
        )
        if isinstance(validator, _UNSAFE_SELECTORS):
            if config.get("required"):
                raise UnofferableService(
                    f"{domain}.{service} requires field '{key}' that addresses areas or devices"
                )
            continue
        if isinstance(validator, selector.EntitySelector) or key == TARGET_KEY:
            entity_fields.append(key)
        marker = vol.Required if config.get("required") else vol.Optional
        schema[marker(key, description=_field_description(config, key))] = validator

    vol_schema = vol.Schema(schema)
    parameters = to_json_schema(vol_schema, selector_serializer)
    matching: list[str] | None = None
    if target is not None:
        # An enum of the matching exposed entities tells the model which ids it may use.
        matching = sorted(
            e for e in exposed_entity_ids if not domains or split_entity_id(e)[0] in domains
        )
        if matching:
            parameters["properties"][TARGET_KEY]["items"]["enum"] = matching
    return ServiceSchema(
        description=_tool_description(domain, service, description),
        schema=vol_schema,
        parameters=parameters,
        entity_fields=tuple(entity_fields),
        target_entity_ids=None if matching is None else tuple(matching),
    )
