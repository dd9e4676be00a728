"""Constants of the tools layer: option keys, defaults, events, error codes, deny-list."""

from __future__ import annotations

from typing import Final

# Option keys (entry options of a satellite).
CONF_LLM_HASS_API: Final = "llm_hass_api"
CONF_TOOL_SERVICES: Final = "tool_services"
CONF_ALLOW_DANGEROUS_SERVICES: Final = "allow_dangerous_services"
CONF_MAX_TOOL_CALLS_PER_TURN: Final = "max_tool_calls_per_turn"
CONF_TOOL_CALL_TIMEOUT: Final = "tool_call_timeout"
CONF_SECURE_ENTITIES: Final = "secure_entities"
CONF_SECURE_PIN: Final = "secure_pin"
CONF_MEDIA_HOSTS: Final = "media_hosts"

DEFAULT_LLM_HASS_API: Final = ("assist",)
DEFAULT_TOOL_SERVICES: Final = ()
DEFAULT_ALLOW_DANGEROUS_SERVICES: Final = False
DEFAULT_MAX_TOOL_CALLS_PER_TURN: Final = 5
DEFAULT_TOOL_CALL_TIMEOUT: Final = 10.0
DEFAULT_SECURE_ENTITIES: Final = ()
DEFAULT_MEDIA_HOSTS: Final = ()
# A spoken PIN for secure devices: digits only, as long as a phone's or an alarm panel's.
SECURE_PIN_RE: Final = r"^[0-9]{4,8}$"
# How long a call waits for the user's spoken yes (the question, then the answer).
CONFIRMATION_TIMEOUT_S: Final = 45.0

MAX_TOOL_CALLS_PER_TURN_RANGE: Final = (1, 20)
# What one tool call's arguments may be: no service needs more, and nothing larger or deeper reaches
# a service or the event bus.
MAX_ARGUMENTS_CHARS: Final = 16_384
MAX_ARGUMENTS_DEPTH: Final = 8
# A timer the model starts: at least a second, at most a day (longer is a reminder, not a timer).
TIMER_SECONDS_RANGE: Final = (1, 24 * 3600)
TOOL_CALL_TIMEOUT_RANGE: Final = (1.0, 120.0)

# Platform name handed to HA's LLM APIs (shows in intent traces).
LLM_PLATFORM: Final = "realtime_voice"
# The assistant whose exposure settings limit what the model may reach.
EXPOSE_ASSISTANT: Final = "conversation"

# Fired once per tool call after it ends (also for refusals): audit and automations.
EVENT_TOOL_CALLED: Final = "realtime_voice_tool_called"
# Fired just before an accepted call runs, with the call's context: as the first event of that
# context it is what the logbook names as the cause of every change the call makes.
EVENT_TOOL_CALL_STARTED: Final = "realtime_voice_tool_call_started"

# Name of the built-in state query tool (offered together with service tools).
STATE_TOOL_NAME: Final = "get_entity_state"

# Error codes returned to the model in {"error": {"code": ..., "message": ...}}.
ERR_TOO_MANY_CALLS: Final = "too_many_calls"
ERR_UNKNOWN_TOOL: Final = "unknown_tool"
ERR_INVALID_JSON: Final = "invalid_json"
ERR_INVALID_ARGUMENTS: Final = "invalid_arguments"
ERR_NOT_EXPOSED: Final = "entity_not_exposed"
ERR_TIMEOUT: Final = "timeout"
ERR_NOT_FOUND: Final = "not_found"
ERR_UNAUTHORIZED: Final = "unauthorized"
ERR_FAILED: Final = "failed"
ERR_INTERNAL: Final = "internal_error"
ERR_NOT_CONFIRMED: Final = "not_confirmed"
ERR_WRONG_PIN: Final = "wrong_pin"
ERR_NOT_NOW: Final = "not_now"
ERR_URL_NOT_ALLOWED: Final = "url_not_allowed"

# Services that can harm the installation, run code, delete data or change what HA itself runs.
# fnmatch patterns over "domain.service". Never offered unless the user turned on
# `allow_dangerous_services` AND selected the service with its domain spelled out.
DANGEROUS_SERVICE_PATTERNS: Final = (
    "homeassistant.*",  # restart, stop, reload config, set location, update_entity, ...
    "hassio.*",  # add-ons, host reboot, backups, restore
    "backup.*",
    "recorder.*",  # purge, purge_entities, disable, enable
    "shell_command.*",
    "python_script.*",
    "pyscript.*",
    "command_line.*",
    "hacs.*",
    "update.*",  # installs firmware and HA updates
    "system_log.*",
    "logger.*",
    "cloud.*",  # remote access on and off
    "downloader.*",  # writes files
    "camera.snapshot",  # writes files
    "camera.record",  # writes files
    "zha.*",  # pairing, removing devices
    "zwave_js.*",
    "matter.*",
    "scene.create",  # snapshots and writes any entity's state
    "scene.apply",  # sets any entity, exposed or not
    "scene.delete",
    # Raw writes to a bus or a protocol: they reach devices past HA's entities and their exposure.
    "mqtt.*",  # publish (a retained "UNLOCK" to zigbee2mqtt/front_door/set), dump (writes a file)
    "knx.*",
    "modbus.*",
    "rfxtrx.*",
    "esphome.*",
    "zigbee2mqtt.*",
    "deconz.*",  # configure writes to the Zigbee gateway
    "homematic.*",
    "rflink.*",
    # Files and the host.
    "file.*",  # read_file
    "*.shutdown",  # synology_dsm, NAS and host integrations
    "*.reboot",
    "*.restart",
    "wake_on_lan.*",
    # Turning the house's own rules off.
    "automation.*",  # turn_off, toggle, trigger
    "script.turn_off",
    # Opening the house and raising the alarm: no spoken yes makes these safe to offer by default
    # (lock.unlock and alarm_disarm are offered, behind the spoken confirmation of secure.py).
    "lock.open",  # unlatches the door itself
    "alarm_control_panel.alarm_trigger",
    "siren.turn_on",
)

# Services that make Home Assistant fetch (or play) a URL the caller chooses: through them a model
# could make HA scan the LAN and localhost. Never selected through a wildcard; named exactly, their
# URL arguments may only be media-source IDs or on the hosts of the `media_hosts` option. fnmatch
# patterns over "domain.service"; services whose fields take media (a `media` selector) count too.
URL_FETCHING_SERVICE_PATTERNS: Final = (
    "*.play_media",  # media_player, music_assistant, and integrations' own
    "media_extractor.*",
    "assist_satellite.announce",  # media_id, preannounce_media_id
    "assist_satellite.start_conversation",
    "assist_satellite.ask_question",
    "notify.*",  # data.image / data.attachment URLs that the notifier fetches
    "rest_command.*",  # user-made requests whose URL templates can take the model's values
    "downloader.*",
)
# Fields whose value is a URL or media the service fetches.
URL_FIELD_NAMES: Final = frozenset(
    {
        "media_content_id",
        "media_id",
        "media",
        "url",
        "uri",
        "image",
        "image_url",
        "preannounce_media_id",
        "start_media_id",
        "attachment",
    }
)
