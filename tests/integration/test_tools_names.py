"""Tool names and service selection rules (pure functions, no hass needed)."""

from __future__ import annotations

from custom_components.realtime_voice.tools.names import (
    VALID_TOOL_NAME,
    ToolNamer,
    sanitize_tool_name,
    service_tool_name,
)
from custom_components.realtime_voice.tools.selection import (
    invalid_selections,
    is_dangerous,
    offered_services,
    select_services,
)
from custom_components.realtime_voice.tools.service_schema import (
    build_service_schema,
    target_domains,
)

AVAILABLE = {
    "light": ["turn_on", "turn_off", "toggle"],
    "script": ["movie", "reload"],
    "homeassistant": ["restart", "stop"],
    "recorder": ["purge"],
    "scene": ["turn_on", "apply", "create"],
    "shell_command": ["wipe"],
}


def test_service_tool_names_are_valid_and_stable() -> None:
    """domain__service, hashed when too long, distinct for distinct long names."""
    assert service_tool_name("light", "turn_on") == "light__turn_on"
    long_a = service_tool_name("script", "a" * 80)
    long_b = service_tool_name("script", "a" * 79 + "b")
    assert len(long_a) == 64
    assert VALID_TOOL_NAME.match(long_a)
    assert long_a != long_b
    assert long_a == service_tool_name("script", "a" * 80)
    assert sanitize_tool_name("weather.get forecast!") == "weather_get_forecast_"
    assert sanitize_tool_name("") == "tool"


def test_namer_resolves_clashes() -> None:
    """A taken name gets the prefix, then a counter."""
    namer = ToolNamer()
    assert namer.claim("HassTurnOn") == "HassTurnOn"
    assert namer.claim("HassTurnOn", prefix="other") == "other__HassTurnOn"
    assert namer.claim("HassTurnOn", prefix="other") == "other__HassTurnOn_2"
    assert namer.claim("HassTurnOn") == "HassTurnOn_2"


def test_selection_patterns_and_deny_list() -> None:
    """Wildcards expand; dangerous services need the switch and their domain written out."""
    assert select_services(AVAILABLE, ["light.*", "script.movie"], allow_dangerous=False) == [
        ("light", "toggle"),
        ("light", "turn_off"),
        ("light", "turn_on"),
        ("script", "movie"),
    ]
    assert select_services(AVAILABLE, ["*.*"], allow_dangerous=False) == [
        ("light", "toggle"),
        ("light", "turn_off"),
        ("light", "turn_on"),
        ("scene", "turn_on"),
        ("script", "movie"),
        ("script", "reload"),
    ]
    assert select_services(AVAILABLE, ["homeassistant.*"], allow_dangerous=False) == []
    assert select_services(AVAILABLE, ["*.restart"], allow_dangerous=True) == []
    assert select_services(AVAILABLE, ["homeassistant.restart"], allow_dangerous=True) == [
        ("homeassistant", "restart")
    ]
    assert select_services(AVAILABLE, ["recorder.purge*", "bad entry"], allow_dangerous=True) == [
        ("recorder", "purge")
    ]


def test_deny_list_and_offered_list() -> None:
    """The options list leaves out every dangerous service and domain."""
    for service_id in (
        "homeassistant.restart",
        "hassio.host_reboot",
        "shell_command.x",
        "recorder.purge",
    ):
        assert is_dangerous(service_id)
    assert not is_dangerous("light.turn_on")
    assert offered_services(AVAILABLE) == [
        "light.*",
        "light.toggle",
        "light.turn_off",
        "light.turn_on",
        "scene.turn_on",
        "script.*",
        "script.movie",
        "script.reload",
    ]
    assert invalid_selections(["light.turn_on", "light", "a b.c", "script.*"]) == ["light", "a b.c"]


def test_target_domains_from_entity_filters() -> None:
    """The target's entity filter decides which exposed entities the enum offers."""
    assert target_domains({}) == []
    assert target_domains({"entity": {"domain": "light"}}) == ["light"]
    assert target_domains({"entity": [{"domain": ["switch", "light"]}, {"domain": "fan"}]}) == [
        "fan",
        "light",
        "switch",
    ]
    # A filter without a domain (e.g. by integration only) allows any domain.
    assert target_domains({"entity": [{"domain": "light"}, {"integration": "hue"}]}) == []


def test_target_wins_over_an_entity_id_field() -> None:
    """A service declaring both a target and an entity_id field gets one entity_id: the target."""
    built = build_service_schema(
        "media_player",
        "join",
        {
            "name": "Join",
            "description": "Group players.",
            "target": {"entity": {"domain": "media_player"}},
            "fields": {
                "entity_id": {"selector": {"text": None}},
                "group_members": {"required": True, "selector": {"entity": {"multiple": True}}},
            },
        },
        ["media_player.kitchen", "light.kitchen"],
    )
    entity_id = built.parameters["properties"]["entity_id"]
    assert entity_id["type"] == "array"
    assert entity_id["items"]["enum"] == ["media_player.kitchen"]
    assert built.entity_fields == ("entity_id", "group_members")
    assert built.description == (
        "Home Assistant action media_player.join. Join. Group players. "
        "Pass the entities to act on in entity_id."
    )


# What an outside review reached through "*.*" (#13): raw bus writes, file access, host shutdown,
# turning the house's automations off. None targets an entity, so the exposure check never applied.
REACHED_BY_WILDCARD = {
    "mqtt": ["publish", "dump"],
    "knx": ["send"],
    "modbus": ["write_register"],
    "rfxtrx": ["send"],
    "file": ["read_file"],
    "synology_dsm": ["shutdown"],
    "automation": ["turn_off"],
}
TARGETLESS = {
    "mqtt.publish",
    "mqtt.dump",
    "knx.send",
    "modbus.write_register",
    "rfxtrx.send",
    "file.read_file",
    "synology_dsm.shutdown",
    "notify.send_message",
}


def test_wildcards_never_reach_raw_writes_files_shutdown_or_automations() -> None:
    available = {**REACHED_BY_WILDCARD, "notify": ["send_message"], "light": ["turn_on"]}
    for allow_dangerous in (False, True):
        assert select_services(
            available, ["*.*"], allow_dangerous=allow_dangerous, exact_only=TARGETLESS
        ) == [("light", "turn_on")]
    domains = [f"{d}.*" for d in available]
    assert select_services(available, domains, allow_dangerous=False, exact_only=TARGETLESS) == [
        ("light", "turn_on")
    ]
    # With the switch on, a domain written out selects what of it targets entities.
    assert select_services(available, domains, allow_dangerous=True, exact_only=TARGETLESS) == [
        ("automation", "turn_off"),
        ("light", "turn_on"),
    ]
    for domain, services in REACHED_BY_WILDCARD.items():
        for service in services:
            assert is_dangerous(f"{domain}.{service}"), f"{domain}.{service}"


def test_a_service_without_target_is_offered_only_when_named() -> None:
    available = {"notify": ["send_message"], "mqtt": ["publish"]}
    assert select_services(
        available, ["notify.send_message"], allow_dangerous=False, exact_only=TARGETLESS
    ) == [("notify", "send_message")]
    assert (
        select_services(available, ["notify.send_*"], allow_dangerous=False, exact_only=TARGETLESS)
        == []
    )
    # A raw bus write needs both: the dangerous-actions switch, and its exact name.
    assert (
        select_services(available, ["mqtt.publish"], allow_dangerous=False, exact_only=TARGETLESS)
        == []
    )
    assert select_services(
        available, ["mqtt.publish"], allow_dangerous=True, exact_only=TARGETLESS
    ) == [("mqtt", "publish")]
