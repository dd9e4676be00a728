"""Constants of the Realtime Voice integration: config keys (fixed, see DESIGN.md section 2) and defaults."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "realtime_voice"

# Config entry data (the connection): names fixed so that automations and docs can rely on them.
CONF_API_KEY: Final = "api_key"
CONF_URL: Final = "url"
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

DEFAULT_URL: Final = "wss://api.openai.com/v1/realtime"
DEFAULT_MODEL_SELECTION: Final = "auto"
MODEL_SELECTIONS: Final = ("auto", "new", "legacy")
DEFAULT_MODEL: Final = "gpt-realtime-2.1"  # gpt-realtime shuts down on 2027-01-20
DEFAULT_LEGACY_MODEL: Final = "gpt-4o-realtime-preview"
DEFAULT_VOICE: Final = "marin"
DEFAULT_VOICE_FALLBACK: Final = "alloy"
DEFAULT_PORT: Final = 10800
DEFAULT_INSTRUCTIONS: Final = (
    "You are a helpful voice assistant in a home. Answer briefly, in a friendly spoken style. "
    "Today is {{ now().strftime('%A, %d %B %Y') }}."
)
DEFAULT_FOLLOW_UP_SECONDS: Final = 8.0

ZEROCONF_TYPE: Final = "_realtime-voice._tcp.local."

# Events for automations.
EVENT_WAKE_WORD_DETECTED: Final = "realtime_voice_wake_word_detected"
EVENT_CONVERSATION_STARTED: Final = "realtime_voice_conversation_started"
EVENT_CONVERSATION_ENDED: Final = "realtime_voice_conversation_ended"
