"""End to end as a user meets it: real hass, satellite agent and stand-in server as processes on loopback.

The tests of this module build on each other in file order (one hass for all, to stay fast): the
config flow adds the satellite "Kitchen", a spoken command turns on the kitchen light through the
HassTurnOn tool, the Realtime server (the stand-in, a SIMULATION of OpenAI's service) drops and comes
back, the satellite crashes and comes back and a second spoken command works, an announcement is
played, and the HA log stays free of this integration's errors.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest

from tests.realtime_standin.server import offered_name

from .conftest import WORKDIR, MainStack
from .stack import DOMAIN, command_wav, played, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

ENTITY = "assist_satellite.kitchen"
LIGHT = "light.kitchen"
UNAVAILABLE = (None, "unavailable", "unknown")


def schema_names(step: dict) -> list[str]:
    return [field["name"] for field in step["data_schema"]]


def light_off(main: MainStack) -> None:
    main.hass.call("light", "turn_off", entity_id=LIGHT)
    main.hass.wait_state(LIGHT, lambda s: s == "off", 10, "to be off")


def expect_spoken_command(main: MainStack, since: int, satellite: str = "Kitchen") -> None:
    """Wake word, HassTurnOn on the kitchen light, the light on, the answer played."""
    hass = main.hass
    logs = main.stack.logs
    wake = hass.wait_event(f"{DOMAIN}_wake_word_detected", 45, since, logs)
    assert wake["data"]["satellite"] == satellite
    assert wake["data"]["wake_word"] == "hey_jarvis"
    tool = hass.wait_event(f"{DOMAIN}_tool_called", 30, since, logs)
    # Assist's tool as HA names it: HassTurnOn, or intent__HassTurnOn from HA 2026.10
    assert offered_name("HassTurnOn", {tool["data"]["name"]}) == tool["data"]["name"]
    assert tool["data"]["arguments"] == {"name": "Kitchen light"}
    assert [t["id"] for t in tool["data"]["result"]["data"]["success"]] == [LIGHT]
    hass.wait_state(LIGHT, lambda s: s == "on", 15, "to be turned on by the tool")
    output = next(s for s in main.stack.satellites if s.name == satellite).output
    assert output is not None
    wait_for(lambda: played(output)[1] > 0.5, 20, f"the spoken answer in {output}", logs)


def test_config_flow_over_rest(main_stack: MainStack) -> None:
    hass, kitchen = main_stack.hass, main_stack.kitchen
    steps: list[dict] = []
    entry = hass.add_satellite(kitchen, main_stack.standin, "auto", steps)
    main_stack.entry_id = entry["entry_id"]

    address, pair, account, created = steps
    assert address["step_id"] == "user"
    assert schema_names(address) == ["host", "port"]  # the first form: two fields
    assert pair["step_id"] == "pair"  # this satellite has its key: typed instead of a code
    assert pair["errors"] == {"base": "not_pairing"}
    assert schema_names(pair) == ["code", "access_key"]
    assert account["step_id"] == "account"  # the first satellite: the OpenAI key, once
    assert schema_names(account) == ["api_key", "url", "pipeline_only"]  # or no key at all
    assert account["errors"] == {}
    assert created["title"] == "Kitchen"
    assert entry["domain"] == DOMAIN
    assert entry["state"] == "loaded"

    entities = hass.entity_ids(entry["entry_id"])
    for wanted in (
        ENTITY,
        "sensor.kitchen_model",
        "sensor.kitchen_interface",
        "switch.kitchen_mute",
    ):
        assert wanted in entities, f"{wanted} not among {entities}"
    hass.wait_state(ENTITY, lambda s: s == "idle", 20, "to be idle (satellite connected)")
    assert hass.state_of("binary_sensor.kitchen_link") == "on"
    hass.wait_state("sensor.kitchen_interface", lambda s: s == "ga", 20, "to show the GA interface")
    assert hass.state_of("sensor.kitchen_model") == "gpt-realtime-2.1"  # the default model
    assert hass.state("sensor.kitchen_model")["attributes"]["fallback"] is False
    assert hass.integration_errors() == []


def test_spoken_command_turns_on_the_light(main_stack: MainStack) -> None:
    hass, kitchen = main_stack.hass, main_stack.kitchen
    assert main_stack.entry_id, "needs the entry of test_config_flow_over_rest"
    hass.expose(LIGHT)
    light_off(main_stack)
    since = len(hass.events)
    # The agent hears "hey jarvis, turn on the kitchen light" 6 s after it starts listening; the
    # reload makes HA connect at once instead of after its reconnect backoff.
    kitchen.start(command_wav(WORKDIR / "command-6s.wav", 6.0))
    hass.request("POST", f"/api/config/config_entries/entry/{main_stack.entry_id}/reload")
    expect_spoken_command(main_stack, since)
    assert float(hass.state_of("sensor.kitchen_tokens") or 0) > 0
    assert float(hass.state_of("sensor.kitchen_cost") or 0) > 0


def test_realtime_server_dropping_is_recovered(main_stack: MainStack) -> None:
    """The stand-in is killed (connections drop without a close frame) and started again on its port."""
    hass, kitchen, standin = main_stack.hass, main_stack.kitchen, main_stack.standin
    assert kitchen.output is not None
    assert standin.proc is not None
    hass.wait_state(ENTITY, lambda s: s == "idle", 30, "to be idle")
    log_offset = len(hass.log.read_text())
    standin.proc.stop(signal.SIGKILL)
    wait_for(
        lambda: "Reconnecting in" in hass.log.read_text()[log_offset:],
        20,
        "HA to notice that the Realtime connection dropped",
        main_stack.stack.logs,
    )
    standin.start()
    wait_for(
        lambda: "connection open" in standin.log_since_start(),
        60,
        "HA to reconnect to the Realtime server",
        main_stack.stack.logs,
    )
    assert hass.state_of(ENTITY) == "idle"
    before = played(kitchen.output)[1]
    hass.call(
        "assist_satellite", "announce", entity_id=ENTITY, message="The Realtime link is back."
    )
    wait_for(
        lambda: played(kitchen.output)[1] > before + 0.5,
        20,
        "audio of an announcement after the Realtime server came back",
        main_stack.stack.logs,
    )
    assert hass.state_of("sensor.kitchen_interface") == "ga"
    assert hass.state_of("sensor.kitchen_model") == "gpt-realtime-2.1"  # the default model


def test_satellite_crash_and_restart_is_recovered(main_stack: MainStack) -> None:
    """The agent is killed mid-run; HA notices, reconnects by itself, and a second spoken command works
    (through the Realtime session that came back in the test before)."""
    hass, kitchen = main_stack.hass, main_stack.kitchen
    assert main_stack.entry_id, "needs the entry of test_config_flow_over_rest"
    light_off(main_stack)
    assert kitchen.proc is not None
    kitchen.proc.stop(signal.SIGKILL)
    hass.wait_state(ENTITY, lambda s: s == "unavailable", 20, "to become unavailable")
    assert hass.state_of("binary_sensor.kitchen_link") == "off"

    since = len(hass.events)
    lead = 16.0  # HA retries with backoff (half to all of 1, 2, 4, 8 s): it must be back before the wake word
    kitchen.start(command_wav(WORKDIR / "command-16s.wav", lead))
    listening = time.monotonic()
    wait_for(
        lambda: "Home Assistant connected" in kitchen.log_text(),
        lead - 1,
        "HA to reconnect to the restarted satellite before it hears the wake word",
        main_stack.stack.logs,
    )
    reconnect_s = time.monotonic() - listening
    hass.wait_state(ENTITY, lambda s: s == "idle", 10, "to be available again")
    expect_spoken_command(main_stack, since)
    print(f"HA reconnected {reconnect_s:.1f} s after the satellite came back")


def test_announce_through_rest_plays_on_the_satellite(main_stack: MainStack) -> None:
    hass, kitchen = main_stack.hass, main_stack.kitchen
    assert kitchen.output is not None
    hass.wait_state(ENTITY, lambda s: s == "idle", 30, "to be idle before the announcement")
    before = played(kitchen.output)[1]
    hass.call(
        "assist_satellite", "announce", entity_id=ENTITY, message="The washing machine is done."
    )
    wait_for(
        lambda: played(kitchen.output)[1] > before + 0.5,
        20,
        f"the announcement's audio in {kitchen.output}",
        main_stack.stack.logs,
    )
    hass.wait_state(ENTITY, lambda s: s == "idle", 20, "to be idle after the announcement")


def test_announcement_during_a_conversation_plays_after_it(main_stack: MainStack) -> None:
    """An automation announces while the user talks to the satellite (#12 defect 1): the action
    waits instead of failing with HTTP 500, and the announcement plays once the conversation ends."""
    hass, kitchen = main_stack.hass, main_stack.kitchen
    assert main_stack.entry_id, "needs the entry of test_config_flow_over_rest"
    light_off(main_stack)
    assert kitchen.proc is not None
    kitchen.proc.stop(signal.SIGTERM)
    hass.wait_state(ENTITY, lambda s: s == "unavailable", 20, "to become unavailable")
    hass.pump_events()  # the events of the tests before are not this one's
    since = len(hass.events)
    kitchen.start(command_wav(WORKDIR / "command-6s.wav", 6.0))
    hass.request("POST", f"/api/config/config_entries/entry/{main_stack.entry_id}/reload")
    logs = main_stack.stack.logs
    started = hass.wait_event(f"{DOMAIN}_conversation_started", 45, since, logs)
    assert kitchen.output is not None
    before = played(kitchen.output)[1]

    outcome: dict[str, object] = {}

    def announce() -> None:
        try:
            outcome["result"] = hass.call(
                "assist_satellite", "announce", entity_id=ENTITY, message="The post has arrived."
            )
        except Exception as err:  # reported by the assertion below
            outcome["error"] = err

    caller = threading.Thread(target=announce)
    caller.start()  # while the conversation is open
    caller.join(120)
    assert "error" not in outcome, f"the announcement failed: {outcome.get('error')}"
    assert "result" in outcome, "the announcement did not return within 120 s"
    hass.pump_events()
    (ended,) = [
        e
        for e in hass.events[since:]
        if e["event_type"] == f"{DOMAIN}_conversation_ended"
        and e["data"]["conversation_id"] == started["data"]["conversation_id"]
    ]
    # The follow-up window, in which nobody spoke, gave way to the announcement.
    assert ended["data"]["reason"] == "announcement"
    assert ended["data"]["assistant"], "the conversation was answered before the announcement"
    hass.wait_state(LIGHT, lambda s: s == "on", 15, "to be turned on by the conversation")
    # The answer and then the announcement were heard.
    assert played(kitchen.output)[1] > before + 1.0
    hass.wait_state(ENTITY, lambda s: s == "idle", 20, "to be idle after the announcement")


def test_no_errors_from_the_integration_in_the_hass_log(main_stack: MainStack) -> None:
    errors = main_stack.hass.integration_errors()
    assert errors == [], "ERROR lines from custom_components.realtime_voice:\n" + "\n".join(errors)


def test_no_reports_about_the_integration_in_the_hass_log(main_stack: MainStack) -> None:
    """No deprecated API, blocking call in the event loop or thread-unsafe call was detected.

    The GA stand-in is on wss://, so every connect went through TLS as it does to OpenAI.
    """
    assert main_stack.standin.url.startswith("wss://")
    reports = main_stack.hass.integration_reports()
    assert reports == [], "Home Assistant reported the integration:\n" + "\n".join(reports)
