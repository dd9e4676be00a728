"""GPT-Live in full duplex end to end (issue #27): real hass, the satellite agent in file mode and the
Live stand-in (a SIMULATION of OpenAI's GPT-Live: it talks when the user stops and stops when it
hears speech over its own voice, as the service does) as processes; the Realtime stand-in beside it.

The satellite (link protocol 4) streams its echo-cancelled microphone while it speaks; its room
(``--echo default``) feeds what it plays back into the microphone as a room would. With echo
cancellation on, the stand-in never hears its own voice and answers to the end; off, it hears it
and interrupts itself (which is why the options refuse Live for such a satellite). A house request
goes to Home Assistant's default agent through delegation and turns the light on; the user's voice
over the answer stops it; an announcement plays; a key without Live access falls back to Realtime.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.helpers.network import free_port
from tests.realtime_standin.audio import espeak
from tests.satellite.harness import Script

from .conftest import WORKDIR, MainStack
from .stack import (
    API_KEY,
    DOMAIN,
    Hass,
    Proc,
    Satellite,
    played,
    shown_options,
    tail,
    wait_for,
)
from .test_e2e_main import LIGHT, light_off

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

QUESTION = "What will the weather be like tomorrow?"
COMMAND = "Turn on the kitchen light."
# the model's long answer: about 11 s, time for its echo to interrupt it if it leaks through
FORECAST = (
    "Tomorrow starts cloudy with a light breeze from the west. Around noon the sun comes out and "
    "it gets warmer, up to twenty one degrees. In the evening some showers are likely, so take "
    "an umbrella if you go out after dinner."
)
LEAD_S = 12.0  # before the wake word: the config flow adds the satellite, the options set Live


@dataclass
class LiveStandin:
    """``python -m tests.live_standin`` as a process; its log says when it interrupted itself."""

    workdir: Path
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1/live/sessions"

    @property
    def log(self) -> Path:
        return self.workdir / f"live-standin-{self.port}.log"

    def start(self, script: dict[str, Any] | None = None) -> LiveStandin:
        args = [sys.executable, "-m", "tests.live_standin", "--port", str(self.port)]
        args += ["--api-key", API_KEY, "--audio", "espeak", *self.args]
        if script is not None:
            path = self.workdir / f"live-standin-{self.port}.json"
            path.write_text(json.dumps(script))
            args += ["--script", str(path)]
        self.proc = Proc("Live stand-in", args, self.log).start()
        wait_for(
            lambda: self.url in self.text() or not self.proc or not self.proc.alive,
            30,
            f"the Live stand-in to listen on {self.url}",
            lambda: tail(self.log),
        )
        return self

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def interruptions(self) -> list[str]:
        return [line for line in self.text().splitlines() if "interrupted:" in line]

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None
        assert "violation" not in self.text(), tail(self.log)


def speech_s(text: str) -> float:
    """How long the stand-in speaks ``text`` (espeak-ng, as it makes its answers)."""
    return len(espeak(text)) / 48_000


def audible_s(text: str) -> float:
    """Of that, the time ``played`` counts as audible (the pauses between words are not)."""
    samples = np.frombuffer(espeak(text), "<i2").astype(np.int32)
    return int((np.abs(samples) > 500).sum()) / 24_000


def input_wav(name: str, script: Script) -> Path:
    path = WORKDIR / f"{name}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    from realtime_voice_satellite.audio import write_wav

    write_wav(path, script.samples(), script.rate)
    return path


def question(lead_s: float = LEAD_S) -> Script:
    return Script().pause(lead_s).say("hey jarvis").pause(0.1).say(QUESTION.lower().rstrip("?"))


def events_of(hass: Hass, kind: str, since: int) -> list[dict[str, Any]]:
    hass.pump_events()
    return [e for e in hass.events[since:] if e["event_type"] == kind]


def live_satellite(
    main: MainStack, satellite: Satellite, live: LiveStandin, wav: Path, follow_up_s: int = 10
) -> str:
    """Start ``satellite`` on ``wav``, add it, and set the Live mode on ``live``: its entry id."""
    hass = main.hass
    satellite.start(wav)
    entry_id = str(hass.add_satellite(satellite, main.standin)["entry_id"])
    hass.set_options(
        entry_id,
        {
            "realtime": {"live_url": live.url},
            "conversation": {"conversation_mode": "live", "follow_up_seconds": follow_up_s},
        },
    )
    hass.wait_state(f"assist_satellite.{satellite.slug}", lambda s: s == "idle", 15, "idle")
    return entry_id


def refused_options(hass: Hass, entry_id: str) -> dict[str, str]:
    """The options form saved as shown (Live, as set): the errors it answers with."""
    flow = "/api/config/config_entries/options/flow"
    form = hass.request("POST", flow, json={"handler": entry_id})
    sections = shown_options(form)
    result = hass.request("POST", f"{flow}/{form['flow_id']}", json=sections)
    if result.get("type") == "form":
        hass.request("DELETE", f"{flow}/{form['flow_id']}")
    return dict(result.get("errors") or {})


def house_ready(main: MainStack) -> None:
    """The kitchen light's input_boolean is set up (hass reports itself started a moment before
    its script can call it: light.turn_off then answers 400), then the light off."""
    hass = main.hass

    def ready() -> bool:
        return any(s.get("domain") == "input_boolean" for s in hass.request("GET", "/api/services"))

    wait_for(ready, 30, "input_boolean's services", main.stack.logs)
    light_off(main)


def barge_ins(satellite: Satellite) -> list[str]:
    return re.findall(r"barge_in: \S+", satellite.log_text())


def ducks(satellite: Satellite) -> list[str]:
    """The satellite's ducks of its answer for a voice (full duplex), as it logs them."""
    return re.findall(r"ducking \S+ at \d+ ms", satellite.log_text())


def test_live_answers_to_the_end_over_its_echo_and_turns_the_light_on(
    main_stack: MainStack,
) -> None:
    """Echo cancellation on, in a room: the satellite streams while it speaks an 11 s answer and the
    model never hears itself; then a request in the follow-up turns the light on through HA's
    default agent; then an announcement plays on the Live satellite."""
    hass, stack = main_stack.hass, main_stack.stack
    hass.expose(LIGHT)
    house_ready(main_stack)
    answer_s = speech_s(FORECAST)
    script = question().pause(answer_s + 5.0).say(COMMAND.lower().rstrip(".")).pause(15.0)
    live = LiveStandin(WORKDIR).start({"transcripts": [QUESTION, COMMAND], "replies": [FORECAST]})
    satellite = Satellite("Live kitchen", stack.workdir, echo="default", echo_cancellation="on")
    stack.satellites.append(satellite)
    since = len(hass.events)
    entry_id = None
    try:
        entry_id = live_satellite(main_stack, satellite, live, input_wav("live-echo-on", script))
        hass.wait_event(f"{DOMAIN}_wake_word_detected", 45, since, stack.logs)
        hass.wait_state(LIGHT, lambda s: s == "on", 60, "to be turned on through delegation")
        ended = hass.wait_event(f"{DOMAIN}_conversation_ended", 45, since, stack.logs)
        assert ended["data"]["user"] == [QUESTION, COMMAND], ended
        assert ended["data"]["tool_calls"] >= 1, ended
        assert live.interruptions() == [], "the model heard its own voice through the satellite"
        # The satellite's own voice barge-in, which fired on its echo here now and then (4 of 6
        # runs on a loaded machine, #27), no longer stops an answer in full duplex: it ducks it,
        # and the answer comes back when the model does not stop (it does not: it never heard
        # itself). A wake word would still barge in.
        assert barge_ins(satellite) == []
        assert satellite.output is not None
        # the whole forecast played (and the agent's answer after it)
        assert played(satellite.output)[1] > audible_s(FORECAST), played(satellite.output)
        assert "link protocol 4" in satellite.log_text()

        hass.wait_state(f"assist_satellite.{satellite.slug}", lambda s: s == "idle", 30, "idle")
        before = played(satellite.output)[1]
        hass.call(
            "assist_satellite",
            "announce",
            entity_id=f"assist_satellite.{satellite.slug}",
            message="Dinner is ready.",
        )
        output = satellite.output
        wait_for(
            lambda: played(output)[1] > before + 0.3,
            20,
            f"the announcement's audio in {output}",
            stack.logs,
        )
    finally:
        if entry_id is not None:
            hass.remove_entry(entry_id)
        satellite.stop()
        live.stop()


def test_the_users_voice_over_the_answer_stops_it_and_is_heard(main_stack: MainStack) -> None:
    """Echo cancellation on: the user says the request about 6 s into the model's answer (its
    first, after the satellite's start: the canceller has converged by then; before, the echo
    gate and the voice barge-in wait for it, docs/performance.md); the satellite
    ducks the answer for the voice, the model hears the user and stops (HA stops what the
    satellite has buffered), hears the request, and the light goes on."""
    hass, stack = main_stack.hass, main_stack.stack
    hass.expose(LIGHT)
    house_ready(main_stack)
    script = question().pause(6.5).say("no wait, turn on the kitchen light").pause(20.0)
    live = LiveStandin(WORKDIR).start({"transcripts": [QUESTION, COMMAND], "replies": [FORECAST]})
    satellite = Satellite("Live hall", stack.workdir, echo="default", echo_cancellation="on")
    stack.satellites.append(satellite)
    since = len(hass.events)
    entry_id = None
    try:
        entry_id = live_satellite(main_stack, satellite, live, input_wav("live-barge-in", script))
        hass.wait_state(LIGHT, lambda s: s == "on", 75, "to be turned on after the barge-in")
        assert len(live.interruptions()) == 1, live.interruptions()
        # the satellite ducked the answer for the voice and the model stopped it (HA's
        # stop_playback), it did not stop it itself
        assert ducks(satellite), satellite.log_text()[-3000:]
        assert barge_ins(satellite) == [], barge_ins(satellite)
        assert satellite.output is not None
        # the forecast was cut off: far less than it played whole
        ended = hass.wait_event(f"{DOMAIN}_conversation_ended", 45, since, stack.logs)
        assert ended["data"]["user"][:1] == [QUESTION], ended
        assert played(satellite.output)[1] < audible_s(FORECAST), played(satellite.output)
    finally:
        if entry_id is not None:
            hass.remove_entry(entry_id)
        satellite.stop()
        live.stop()


def test_without_echo_cancellation_the_model_interrupts_itself(main_stack: MainStack) -> None:
    """The opposite check: the same room with the satellite's echo cancellation off. The options
    refuse Live for it (the satellite says so in its info); on a satellite set to Live before,
    the model hears its own voice and stops its answer though nobody spoke."""
    hass, stack = main_stack.hass, main_stack.stack
    live = LiveStandin(WORKDIR).start({"transcripts": [QUESTION], "replies": [FORECAST]})
    satellite = Satellite("Live attic", stack.workdir, echo="default", echo_cancellation="on")
    stack.satellites.append(satellite)
    entry_id = None
    try:
        quiet = input_wav("live-quiet", Script().pause(60.0))
        entry_id = live_satellite(main_stack, satellite, live, quiet)
        # the user turns echo cancellation off on the Pi
        satellite.echo_cancellation = "off"
        since = len(hass.events)
        satellite.start(input_wav("live-echo-off", question(lead_s=8.0).pause(25.0)))
        wait_for(
            lambda: "Home Assistant connected" in satellite.log_text(),
            30,
            "Home Assistant to reconnect to the satellite",
            stack.logs,
        )
        assert refused_options(hass, entry_id) == {"conversation": "live_needs_echo_cancellation"}
        hass.wait_event(f"{DOMAIN}_wake_word_detected", 45, since, stack.logs)
        wait_for(
            live.interruptions,
            45,
            "the Live stand-in to interrupt itself on the satellite's echo",
            lambda: tail(live.log),
        )
    finally:
        if entry_id is not None:
            hass.remove_entry(entry_id)
        satellite.stop()
        live.stop()


def test_a_key_without_live_access_falls_back_to_realtime(main_stack: MainStack) -> None:
    hass, stack = main_stack.hass, main_stack.stack
    hass.expose(LIGHT)
    house_ready(main_stack)
    live = LiveStandin(WORKDIR, ["--access", "model_not_found"]).start()
    satellite = Satellite("Live garage", stack.workdir)
    stack.satellites.append(satellite)
    since = len(hass.events)
    entry_id = None
    try:
        script = Script().pause(LEAD_S).say("hey jarvis").pause(0.1)
        script.say("turn on the kitchen light").pause(10.0)
        entry_id = live_satellite(main_stack, satellite, live, input_wav("live-no-access", script))
        tool = hass.wait_event(f"{DOMAIN}_tool_called", 45, since, stack.logs)  # Realtime's
        assert tool["data"]["arguments"] == {"name": "Kitchen light"}
        hass.wait_state(LIGHT, lambda s: s == "on", 15, "to be turned on by the Realtime model")
        listed = hass.ws_command("repairs/list_issues")["issues"]
        assert f"live_no_access_{entry_id}" in {i["issue_id"] for i in listed}, listed
        assert "model_not_found" in live.text()
    finally:
        if entry_id is not None:
            hass.remove_entry(entry_id)
        satellite.stop()
        live.stop()
