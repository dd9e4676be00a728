"""The options form is in sections (HA's data_entry_flow.section): what it shows, field by field, and
answers put back into their sections as the UI sends them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.data_entry_flow import section


def sections(result: Mapping[str, Any]) -> dict[str, Any]:
    """Each section's name and its inner schema."""
    return {
        str(key): value.schema
        for key, value in result["data_schema"].schema.items()
        if isinstance(value, section)
    }


def fields(result: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of every section, by name (the schema's keys: default, description)."""
    return {str(key): key for schema in sections(result).values() for key in schema.schema}


def shown(result: Mapping[str, Any]) -> dict[str, Any]:
    """What the form shows filled in: each field's default, else its suggested value."""
    values: dict[str, Any] = {}
    for name, key in fields(result).items():
        if callable(getattr(key, "default", None)):
            values[name] = key.default()
        elif (key.description or {}).get("suggested_value") is not None:
            values[name] = key.description["suggested_value"]
    return values


def nest(result: Mapping[str, Any], flat: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``flat`` answers in the sections the form has them in (what the UI submits)."""
    nested: dict[str, dict[str, Any]] = {}
    for name, schema in sections(result).items():
        names = {str(key) for key in schema.schema}
        nested[name] = {key: value for key, value in flat.items() if key in names}
    unknown = set(flat) - {key for part in nested.values() for key in part}
    assert not unknown, f"not fields of the form: {sorted(unknown)}"
    return nested
