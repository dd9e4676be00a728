"""Constants of the Realtime Voice integration: config keys and defaults.

The keys are stored in users' config entries: renaming one needs a config entry migration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .core import live
from .core.link import protocol
from .core.realtime import registry
from .core.realtime import settings as realtime_settings

DOMAIN: Final = "realtime_voice"

# Config entry data (the connection): names fixed so that automations and docs can rely on them.
# An OpenAI account entry holds the API key and endpoint (CONF_KIND marks it); each satellite entry
# holds its link and names its account (CONF_ACCOUNT, the account entry's id): account.py.
CONF_API_KEY: Final = "api_key"
CONF_URL: Final = "url"
CONF_KIND: Final = "kind"
KIND_ACCOUNT: Final = "openai_account"
CONF_ACCOUNT: Final = "account"
CONF_HOST: Final = "host"
CONF_PORT: Final = "port"
CONF_ACCESS_KEY: Final = "access_key"
CONF_SATELLITE_ID: Final = "satellite_id"

# Options (the behaviour): first set in the config flow, changed in the options flow.
CONF_MODEL_SELECTION: Final = "model_selection"
CONF_MODEL: Final = "model"
CONF_LEGACY_MODEL: Final = "legacy_model"
CONF_VOICE: Final = "voice"
CONF_VOICE_FALLBACK: Final = "voice_fallback"
CONF_AUTO_SELECT_VOICE: Final = "auto_select_voice"
CONF_INSTRUCTIONS: Final = "instructions"
CONF_WAKE_WORDS: Final = "wake_words"
CONF_WAKE_THRESHOLD: Final = "wake_threshold"
CONF_FOLLOW_UP_SECONDS: Final = "follow_up_seconds"
# Which brain hears and answers (session_manager.py picks it): OpenAI's Realtime session, Home
# Assistant's Assist pipeline (no OpenAI key needed), Realtime with the pipeline as its fallback, or
# OpenAI's GPT-Live in full duplex with the Realtime brain beside it (live_brain.py).
CONF_CONVERSATION_MODE: Final = "conversation_mode"
MODE_REALTIME: Final = "realtime"
MODE_PIPELINE: Final = "pipeline"
MODE_REALTIME_FALLBACK: Final = "realtime_fallback"
MODE_LIVE: Final = "live"
CONVERSATION_MODES: Final = (MODE_REALTIME, MODE_PIPELINE, MODE_REALTIME_FALLBACK, MODE_LIVE)
DEFAULT_CONVERSATION_MODE: Final = MODE_REALTIME


# Live mode: what answers when Live cannot (no access, the network, the key, the credit): the
# Realtime brain (beside Live anyway for announcements and questions), Home Assistant's Assist
# pipeline (no Realtime at all: announcements and questions go through the pipeline too), or
# Realtime and, when Realtime cannot either, the pipeline.
CONF_LIVE_FALLBACK: Final = "live_fallback"
LIVE_FALLBACK_REALTIME: Final = "realtime"
LIVE_FALLBACK_PIPELINE: Final = "pipeline"
LIVE_FALLBACK_REALTIME_PIPELINE: Final = "realtime_pipeline"
LIVE_FALLBACKS: Final = (
    LIVE_FALLBACK_REALTIME,
    LIVE_FALLBACK_PIPELINE,
    LIVE_FALLBACK_REALTIME_PIPELINE,
)
DEFAULT_LIVE_FALLBACK: Final = LIVE_FALLBACK_REALTIME


class InvalidOptionError(ValueError):
    """A stored option has a value this release does not know (the message names the key)."""

    def __init__(self, key: str, value: object, expected: tuple[str, ...]) -> None:
        super().__init__(f"{key}: expected one of {', '.join(expected)}, got {value!r}")
        self.key = key
        self.value = value
        self.expected = expected


def _choice(options: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str) -> str:
    value = options.get(key, default)
    if value not in choices:
        raise InvalidOptionError(key, value, choices)
    return str(value)


def check_choices(options: Mapping[str, Any]) -> None:
    """Raise InvalidOptionError for a stored choice this release does not know (an entry edited
    by hand, or written by a newer release), before anything is built from it."""
    _choice(options, CONF_CONVERSATION_MODE, CONVERSATION_MODES, DEFAULT_CONVERSATION_MODE)
    _choice(options, CONF_LIVE_FALLBACK, LIVE_FALLBACKS, DEFAULT_LIVE_FALLBACK)


def live_fallback(options: Mapping[str, Any]) -> str:
    """What answers a Live satellite when Live cannot (one of LIVE_FALLBACKS)."""
    return _choice(options, CONF_LIVE_FALLBACK, LIVE_FALLBACKS, DEFAULT_LIVE_FALLBACK)


def conversation_mode(options: Mapping[str, Any]) -> str:
    """A satellite entry's conversation mode (one of CONVERSATION_MODES)."""
    return str(options.get(CONF_CONVERSATION_MODE, DEFAULT_CONVERSATION_MODE))


def needs_account(options: Mapping[str, Any]) -> bool:
    """Every mode but the pipeline's talks to OpenAI: it needs an account (a key); Live with the
    pipeline as its fallback needs one too (Live's own key)."""
    return conversation_mode(options) != MODE_PIPELINE


def uses_realtime(options: Mapping[str, Any]) -> bool:
    """Whether a Realtime model is in use: not in the pipeline mode, nor in Live mode with the
    pipeline alone as its fallback."""
    if conversation_mode(options) == MODE_LIVE:
        return bool(
            options.get(CONF_LIVE_FALLBACK, DEFAULT_LIVE_FALLBACK) != LIVE_FALLBACK_PIPELINE
        )
    return needs_account(options)


# Live mode: the model, its endpoint (the Live stand-in in tests) and the conversation agent that
# does what the model delegates (empty: Home Assistant's own).
CONF_LIVE_MODEL: Final = "live_model"
CONF_LIVE_URL: Final = "live_url"
CONF_LIVE_AGENT: Final = "live_agent"

# One source for each: the endpoint, models and voices from the realtime core, the port and the
# zeroconf type from the link protocol (which the satellite speaks too). manifest.json repeats the
# zeroconf type (JSON imports nothing); tests/integration/test_constants.py checks they agree.
DEFAULT_URL: Final = realtime_settings.DEFAULT_URL
MODEL_SELECTIONS: Final = realtime_settings.MODEL_SELECTIONS
DEFAULT_MODEL_SELECTION: Final = "auto"
DEFAULT_MODEL: Final = registry.DEFAULT_MODEL
DEFAULT_LEGACY_MODEL: Final = registry.DEFAULT_LEGACY_MODEL
DEFAULT_VOICE: Final = registry.DEFAULT_VOICE
DEFAULT_VOICE_FALLBACK: Final = registry.DEFAULT_VOICE_FALLBACK
DEFAULT_LIVE_MODEL: Final = live.DEFAULT_MODEL
LIVE_MODELS: Final = live.LIVE_MODELS
DEFAULT_LIVE_URL: Final = live.DEFAULT_URL
DEFAULT_PORT: Final = protocol.DEFAULT_PORT
ZEROCONF_TYPE: Final = protocol.ZEROCONF_TYPE
DEFAULT_INSTRUCTIONS: Final = (
    "You are a helpful voice assistant in a home. Answer briefly, in a friendly spoken style. "
    "Today is {{ now().strftime('%A, %d %B %Y') }}."
)
DEFAULT_FOLLOW_UP_SECONDS: Final = 8.0

# Events for automations.
EVENT_WAKE_WORD_DETECTED: Final = "realtime_voice_wake_word_detected"
EVENT_CONVERSATION_STARTED: Final = "realtime_voice_conversation_started"
EVENT_CONVERSATION_ENDED: Final = "realtime_voice_conversation_ended"
