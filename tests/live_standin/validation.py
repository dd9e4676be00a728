"""Checks Live events against ``openai.types.live``: the client and server event unions, strictly.

The pydantic models accept undeclared keys and give "Required, nullable" keys (``delegation_id``
of the append commands) a default; the service rejects both. So a client event is checked twice:
against its model (undeclared keys anywhere are ``unknown_parameter``, as with the Realtime
stand-in) and against its ``*Param`` TypedDict, which marks the keys the service requires.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal, get_args, get_type_hints

from openai.types.live import client_event_param
from openai.types.live.client_event import ClientEvent
from openai.types.live.server_event import ServerEvent
from pydantic import BaseModel, TypeAdapter, ValidationError

from tests.realtime_standin.validation import Problem, members, problems_of, validate_with

Direction = Literal["client", "server"]


@cache
def event_types(direction: Direction) -> dict[str, type[BaseModel]]:
    """Event type name -> model, from ``ClientEvent`` or ``ServerEvent``."""
    union = ClientEvent if direction == "client" else ServerEvent
    table: dict[str, type[BaseModel]] = {}
    for model in members(union):
        (name,) = get_args(model.model_fields["type"].annotation)
        table[name] = model
    return table


@cache
def _client_params() -> dict[str, TypeAdapter[Any]]:
    """Event type name -> a validator of its ``*Param`` TypedDict (required keys included)."""
    table: dict[str, TypeAdapter[Any]] = {}
    for typed_dict in get_args(client_event_param.ClientEventParam):
        (name,) = get_args(get_type_hints(typed_dict)["type"])
        table[name] = TypeAdapter(typed_dict)
    return table


def validate(direction: Direction, event: Any) -> list[Problem]:
    """Problems of ``event`` (a decoded JSON object); empty when the service would accept it."""
    problems = validate_with(event_types(direction), event, f"Live {direction}")
    if problems or direction == "server":
        return problems
    try:
        _client_params()[event["type"]].validate_python(event)
    except ValidationError as err:
        return problems_of(err)
    return []
