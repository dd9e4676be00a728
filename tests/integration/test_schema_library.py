"""schema_library on both sides of HA's move from voluptuous to probatio: the oldest supported release
(2026.5) has only voluptuous; the test release has probatio. With probatio hidden, the module falls back
to voluptuous and voluptuous_openapi, and converts a tool's schema to the same JSON schema."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from custom_components.realtime_voice import schema_library


@pytest.fixture
def without_probatio(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    for name in [n for n in sys.modules if n == "probatio" or n.startswith("probatio.")]:
        monkeypatch.setitem(sys.modules, name, None)  # what an HA without probatio has
    try:
        yield importlib.reload(schema_library)
    finally:
        monkeypatch.undo()
        importlib.reload(schema_library)


def tool_schema(vol: ModuleType) -> object:
    return vol.Schema(
        {
            vol.Required("room", description="Which room"): str,
            vol.Optional("level"): vol.All(int, vol.Range(min=0, max=100)),
        }
    )


def test_the_voluptuous_fallback_converts_like_probatio(without_probatio: ModuleType) -> None:
    assert without_probatio.HAS_PROBATIO is False
    import voluptuous

    assert without_probatio.vol is voluptuous
    fallback = without_probatio.to_json_schema(tool_schema(voluptuous), None)
    assert fallback["type"] == "object"
    assert fallback["required"] == ["room"]
    assert fallback["properties"]["room"] == {"type": "string", "description": "Which room"}
    assert fallback["properties"]["level"]["maximum"] == 100
    with pytest.raises(voluptuous.Invalid) as raised:
        tool_schema(voluptuous)({"level": 3})
    assert "room" in without_probatio.humanize_error({"level": 3}, raised.value)


def test_probatio_is_used_where_home_assistant_has_it() -> None:
    import probatio

    assert schema_library.HAS_PROBATIO is True
    assert schema_library.vol is probatio
    converted = schema_library.to_json_schema(tool_schema(probatio), None)
    assert converted["required"] == ["room"]
    assert converted["properties"]["room"]["type"] == "string"
