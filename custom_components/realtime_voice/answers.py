"""ask_question's answers: the user's words matched against the automation's sentence templates.

HA's own satellites match with hassil in a private method of AssistSatelliteEntity; this is the same
matching through hassil's public API (templates with optional parts, alternatives and {slots}; every
slot is a wildcard).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hassil import Intents, recognize
from hassil.expression import Expression, Group, ListReference
from hassil.intents import WildcardSlotList
from homeassistant.components.assist_satellite import AssistSatelliteAnswer


def match_answer(
    text: str | None, answers: list[dict[str, Any]] | None, language: str
) -> AssistSatelliteAnswer:
    """The answer ``text`` matches (id and slots), or id None; no text gives an empty sentence."""
    if not text:
        return AssistSatelliteAnswer(id=None, sentence="")
    if not answers:
        return AssistSatelliteAnswer(id=None, sentence=text)
    intents = Intents.from_dict(
        {
            "language": language,
            "intents": {
                "QuestionIntent": {
                    "data": [
                        {"sentences": answer["sentences"], "metadata": {"answer_id": answer["id"]}}
                        for answer in answers
                    ]
                }
            },
        }
    )
    for intent in intents.intents.values():
        for data in intent.data:
            for name in _slot_names(sentence.expression for sentence in data.sentences):
                intents.slot_lists[name] = WildcardSlotList(name)
    result = recognize(text, intents)
    if result is None or not result.intent_metadata:
        return AssistSatelliteAnswer(id=None, sentence=text)
    return AssistSatelliteAnswer(
        id=result.intent_metadata["answer_id"],
        sentence=text,
        slots={name: entity.value for name, entity in result.entities.items()},
    )


def _slot_names(expressions: Iterable[Expression]) -> set[str]:
    names: set[str] = set()
    pending = list(expressions)
    while pending:
        expression = pending.pop()
        if isinstance(expression, ListReference):
            names.add(expression.slot_name)
        elif isinstance(expression, Group):
            pending.extend(expression.items)
    return names
