"""Secure devices: a call that opens the house runs only after the user's spoken yes.

The voice session acts as no user: whoever is in earshot (a TV, someone at a window) speaks for it.
So a call that unlocks or opens a lock, opens a garage, door or gate cover, disarms or triggers an
alarm panel, or acts on an entity the user marked as secure in the options is not run when the model
makes it. The toolset keeps it as a PendingConfirmation and tells the model to ask; the Realtime
brain (realtime_brain.py) hands it the user's next words, which it matches with HA's sentence
matching (hassil, as ask_question does), and only a yes (with the PIN, if one is set) runs it.
Whatever the model says or calls, nothing else runs it.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from homeassistant.const import ATTR_DEVICE_CLASS
from homeassistant.core import HomeAssistant, split_entity_id
from homeassistant.helpers import intent

from ..answers import match_answer
from .base import Tool
from .const import CONFIRMATION_TIMEOUT_S, EXPOSE_ASSISTANT

# Covers that open the house (CoverDeviceClass values); blinds and shades are not secure.
SECURE_COVER_CLASSES = frozenset({"garage", "door", "gate"})
SECURE_DOMAINS = frozenset({"lock", "alarm_control_panel"})

# What moves a secure device the safe way needs no yes: locking, closing, arming.
SAFE_SERVICES: Mapping[str, frozenset[str]] = {
    "lock": frozenset({"lock"}),
    "cover": frozenset({"close_cover", "stop_cover", "close_cover_tilt", "stop_cover_tilt"}),
    "alarm_control_panel": frozenset(
        {
            "alarm_arm_away",
            "alarm_arm_home",
            "alarm_arm_night",
            "alarm_arm_vacation",
            "alarm_arm_custom_bypass",
        }
    ),
}
# Assist's intents: HassTurnOn locks a lock, HassTurnOff closes a cover (and unlocks a lock: HA
# maps turn_off to lock.unlock, which is why the direction matters).
SAFE_INTENTS: Mapping[str, frozenset[str]] = {
    "lock": frozenset({"HassTurnOn"}),
    "cover": frozenset({"HassTurnOff", "HassStopMoving"}),
}
# Intents that only read, whatever they target.
READ_ONLY_INTENTS = frozenset(
    {
        "HassGetState",
        "GetLiveContext",
        "GetDateTime",
        "HassGetWeather",
        "HassGetCurrentDate",
        "HassGetCurrentTime",
    }
)
# The arguments of Assist's intent tools that pick entities (the slots of HA's intent handlers).
INTENT_TARGET_ARGUMENTS = ("name", "area", "floor", "domain", "device_class")

# What counts as yes and no, as hassil sentence templates per language (HA's own, where it has
# them, live in a private method of its satellite entity). Other languages: see docs/security.md.
CONFIRMATION_SENTENCES: Mapping[str, Mapping[str, list[str]]] = {
    "en": {
        "yes": [
            "yes [please|do it|go ahead|I'm sure|I am sure]",
            "yeah",
            "yep",
            "sure",
            "(do|open|unlock|disarm) it",
            "go ahead",
            "confirm[ed]",
            "ok[ay]",
            "correct",
        ],
        "no": ["no [thanks|thank you|don't]", "nope", "cancel", "don't", "stop", "never mind"],
    },
    "de": {
        "yes": ["ja [bitte|mach das|genau]", "genau", "sicher", "bestätigt", "okay", "mach es"],
        "no": ["nein [danke]", "abbrechen", "nicht", "stopp"],
    },
    "fr": {
        "yes": ["oui [s'il te plaît|vas-y]", "d'accord", "confirme", "vas-y"],
        "no": ["non [merci]", "annule", "arrête"],
    },
    "es": {
        "yes": ["sí [por favor]", "si [por favor]", "claro", "confirmo", "adelante"],
        "no": ["no [gracias]", "cancela", "para"],
    },
    "nl": {
        "yes": ["ja [graag|doe maar]", "zeker", "bevestig", "oké", "doe maar"],
        "no": ["nee [dank je]", "annuleer", "stop"],
    },
    "it": {
        "yes": ["sì [grazie|per favore]", "si [grazie|per favore]", "certo", "confermo", "vai"],
        "no": ["no [grazie]", "annulla", "fermati"],
    },
}

# Digits of a spoken PIN as the transcription may write them out.
_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
_WORD_RE = re.compile(r"[a-z]+|[0-9]")
_DIGITS_RE = re.compile(r"\b(?:" + "|".join(_DIGIT_WORDS) + r")\b|[0-9]", re.IGNORECASE)


class Confirmation(StrEnum):
    """What the user's answer to "are you sure?" was."""

    YES = "yes"
    NO = "no"  # a no, anything else, or nothing: the call does not run
    WRONG_PIN = "wrong_pin"


@dataclass(slots=True)
class PendingConfirmation:
    """A call the model made that waits for the user's yes."""

    tool: Tool
    name: str
    arguments: dict[str, Any]
    targets: list[str]
    action: str  # what the user is asked about, e.g. "lock.unlock on lock.front_door"
    expires: float = field(default_factory=lambda: time.monotonic() + CONFIRMATION_TIMEOUT_S)

    @property
    def expired(self) -> bool:
        return time.monotonic() > self.expires


def is_secure_entity(hass: HomeAssistant, entity_id: str, marked: Collection[str]) -> bool:
    """A lock, an alarm panel, a garage, door or gate cover, or an entity the user marked."""
    if entity_id in marked:
        return True
    domain = split_entity_id(entity_id)[0]
    if domain in SECURE_DOMAINS:
        return True
    if domain == "cover" and (state := hass.states.get(entity_id)) is not None:
        return state.attributes.get(ATTR_DEVICE_CLASS) in SECURE_COVER_CLASSES
    return False


def secure_service_targets(
    hass: HomeAssistant,
    domain: str,
    service: str,
    entity_ids: Iterable[str],
    marked: Collection[str],
) -> list[str]:
    """The secure entities among ``entity_ids`` that calling ``domain.service`` on needs a yes for."""
    secure: list[str] = []
    for entity_id in entity_ids:
        if not is_secure_entity(hass, entity_id, marked):
            continue
        own_domain = split_entity_id(entity_id)[0]
        if (
            entity_id not in marked
            and own_domain == domain
            and service in SAFE_SERVICES.get(domain, ())
        ):
            continue
        secure.append(entity_id)
    return secure


def secure_intent_targets(
    hass: HomeAssistant, intent_type: str, arguments: Mapping[str, Any], marked: Collection[str]
) -> list[str]:
    """The secure entities an Assist intent with these slots may act on (every candidate of the
    name, area, floor, domain and device class the model gave, as HA's own matching finds them)."""
    if intent_type in READ_ONLY_INTENTS:
        return []
    if not any(arguments.get(key) for key in INTENT_TARGET_ARGUMENTS):
        return []
    constraints = intent.MatchTargetsConstraints(
        name=_text(arguments.get("name")),
        area_name=_text(arguments.get("area")),
        floor_name=_text(arguments.get("floor")),
        domains=_texts(arguments.get("domain")),
        device_classes=_texts(arguments.get("device_class")),
        assistant=EXPOSE_ASSISTANT,
        # Every entity of that name counts: HA's own choice among them (by the satellite's area)
        # must not pick a lock that was not asked about.
        allow_duplicate_names=True,
    )
    result = intent.async_match_targets(hass, constraints)
    if not result.is_match:
        return []  # HA will not act on anything either
    secure: list[str] = []
    for state in result.states:
        if not is_secure_entity(hass, state.entity_id, marked):
            continue
        if state.entity_id not in marked and intent_type in SAFE_INTENTS.get(state.domain, ()):
            continue
        secure.append(state.entity_id)
    return secure


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _texts(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)] or None
    return None


def spoken_digits(text: str) -> str:
    """The digits in ``text``, written or spoken ("one two 3 four" -> "1234")."""
    return "".join(
        _DIGIT_WORDS.get(word, word if word.isdigit() else "")
        for word in _WORD_RE.findall(text.lower())
    )


def confirmation_of(text: str | None, language: str, pin: str | None) -> Confirmation:
    """The user's answer: with a PIN set, the PIN (a no still refuses); else a yes."""
    if not text:
        return Confirmation.NO
    sentences = CONFIRMATION_SENTENCES.get(
        language.split("-", maxsplit=1)[0].lower(), CONFIRMATION_SENTENCES["en"]
    )
    answers = [{"id": answer_id, "sentences": s} for answer_id, s in sentences.items()]
    # The yes or no is matched without the PIN's digits: "no, 1234" is a no.
    words = _DIGITS_RE.sub(" ", text).strip(" ,.!?")
    matched = match_answer(words, answers, language).id if words else None
    if matched == "no":
        return Confirmation.NO
    if pin:
        return Confirmation.YES if spoken_digits(text) == pin else Confirmation.WRONG_PIN
    return Confirmation.YES if matched == "yes" else Confirmation.NO
