"""Checks events against the ``openai`` package's pydantic types, undeclared keys included.

The openai models allow extra keys (``extra="allow"``), so a model validates any superset of its
fields; here every ``model_extra`` found anywhere in the validated tree is an error, which is how the
real service answers (``unknown_parameter``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_args

from openai.types import realtime as ga_types
from openai.types.beta import realtime as beta_types
from pydantic import BaseModel, ValidationError

Interface = Literal["ga", "beta"]
Direction = Literal["client", "server"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One way an event breaks the protocol, phrased as the service's ``error`` would."""

    code: str  # unknown_parameter | missing_required_parameter | invalid_value | invalid_type
    param: str | None
    message: str


def members(union: Any) -> tuple[type[BaseModel], ...]:
    """The pydantic models of an event union (``Annotated[Union[...], PropertyInfo]``)."""
    args = get_args(union)
    # Annotated[Union[...], PropertyInfo] -> Union[...] -> members
    if args and get_args(args[0]):
        args = get_args(args[0])
    return tuple(a for a in args if isinstance(a, type) and issubclass(a, BaseModel))


@cache
def event_types(interface: Interface, direction: Direction) -> dict[str, type[BaseModel]]:
    """Event type name -> model, from the package's client or server event union."""
    module = ga_types if interface == "ga" else beta_types
    union = module.RealtimeClientEvent if direction == "client" else module.RealtimeServerEvent
    table: dict[str, type[BaseModel]] = {}
    for model in members(union):
        (name,) = get_args(model.model_fields["type"].annotation)
        table[name] = model
    return table


def _extras(obj: Any, path: str) -> list[str]:
    found: list[str] = []
    if isinstance(obj, BaseModel):
        found += [f"{path}{key}" for key in obj.model_extra or {}]
        for name in type(obj).model_fields:
            found += _extras(getattr(obj, name), f"{path}{name}.")
    elif isinstance(obj, list | tuple):
        for index, value in enumerate(obj):
            found += _extras(value, f"{path.rstrip('.')}[{index}].")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            found += _extras(value, f"{path}{key}.")
    return found


def _param(loc: tuple[Any, ...]) -> str:
    # Union members appear in pydantic's loc as class or tag names; they are not parameters.
    parts = [
        f"[{p}]" if isinstance(p, int) else str(p)
        for p in loc
        if not (isinstance(p, str) and (p[:1].isupper() or "[" in p))
    ]
    return ".".join(parts).replace(".[", "[")


def validate(interface: Interface, direction: Direction, event: Any) -> list[Problem]:
    """Problems of ``event`` (a decoded JSON object); empty when the types accept it."""
    return validate_with(event_types(interface, direction), event, f"{interface} {direction}")


def validate_with(table: dict[str, type[BaseModel]], event: Any, what: str) -> list[Problem]:
    """Problems of ``event`` against the model that ``table`` names for its type; ``what`` names
    the kind of event in the message (the Live stand-in checks its own unions with this too)."""
    if not isinstance(event, dict):
        return [Problem("invalid_type", None, "Expected an object")]
    name = event.get("type")
    model = table.get(name) if isinstance(name, str) else None
    if model is None:
        return [
            Problem("invalid_value", "type", f"Invalid value: {name!r}. Not a {what} event type.")
        ]
    try:
        parsed = model.model_validate(event)
    except ValidationError as err:
        return problems_of(err)
    return [
        Problem("unknown_parameter", param, f"Unknown parameter: '{param}'.")
        for param in _extras(parsed, "")
    ]


def problems_of(err: ValidationError) -> list[Problem]:
    """The most telling problem of a pydantic validation error, phrased like the service."""
    problems = []
    for detail in err.errors():
        param = _param(detail["loc"])
        if detail["type"] == "missing":
            problems.append(
                Problem(
                    "missing_required_parameter",
                    param,
                    f"Missing required parameter: '{param}'.",
                )
            )
        else:
            problems.append(
                Problem("invalid_value", param, f"Invalid value for '{param}': {detail['msg']}")
            )
    # A union reports every member's complaint; the shortest path is the most telling.
    problems.sort(key=lambda p: (p.code != "missing_required_parameter", len(p.param or "")))
    return problems[:1]
