"""The schema library of this Home Assistant, and its JSON-schema converter.

Home Assistant replaced voluptuous with probatio during 2026 (API-compatible: the same ``Schema``,
``Required``, ``Invalid``, ...; ``probatio.to_openapi`` took the place of ``voluptuous_openapi.convert``,
which is no longer installed). Both are in the supported range (2026.5 uses voluptuous, 2026.11
probatio). voluptuous may still be importable beside probatio (a dependency of a dependency), but its
classes are not probatio's: HA's validators raise probatio's ``Invalid`` and its flows serialize
probatio's schemas, so the integration uses probatio wherever HA does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:
    import probatio as vol
    from probatio.humanize import humanize_error

    HAS_PROBATIO = True
except ImportError:  # Home Assistant before probatio
    import voluptuous as vol  # type: ignore[no-redef]
    from voluptuous.humanize import humanize_error  # type: ignore[assignment]

    HAS_PROBATIO = False

__all__ = ["humanize_error", "to_json_schema", "vol"]


def to_json_schema(schema: Any, custom_serializer: Callable[[Any], Any] | None) -> dict[str, Any]:
    """``schema`` as the JSON schema the model reads, converted as openai_conversation does in the
    same release (so the tools' schemas stay identical to the Assist API's); selectors through
    ``custom_serializer``."""
    if HAS_PROBATIO:
        return dict(
            vol.to_openapi(schema, custom_serializer=custom_serializer, openapi_version="3.1.0")
        )
    from voluptuous_openapi import convert

    return dict(convert(schema, custom_serializer=custom_serializer))
