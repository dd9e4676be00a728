"""The Live brain (GPT-Live, issue #27) inside real Home Assistant: the satellite is the real link
server on loopback, the Live service is the Live stand-in running as a process from the host .venv
(it validates every event both ways against openai.types.live, which HA's pinned openai lacks), the
Realtime service beside it is the in-process Realtime stand-in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from homeassistant.components import conversation
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.realtime_voice import live_brain
from custom_components.realtime_voice.const import (
    CONF_CONVERSATION_MODE,
    CONF_FOLLOW_UP_SECONDS,
    CONF_LIVE_AGENT,
    CONF_LIVE_MODEL,
    CONF_LIVE_URL,
    DOMAIN,
    MODE_LIVE,
)
from realtime_voice_satellite.link import protocol
from tests.live_standin.testing import start_process
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import API_KEY, SatelliteEntry, entry_for
from .link_satellite import LinkSatellite, silence, tone
from .test_options_flow import save_shown_form
from .waiting import collect, load_entry, wait_until

pytestmark = pytest.mark.timeout(120)


class LiveStandin:
    def __init__(self, url: str, lines: list[str]) -> None:
        self.url = url
        self.lines = lines

    def violations(self) -> list[str]:
        return [line for line in self.lines if "violation" in line]


@asynccontextmanager
async def live_standin(*args: str) -> AsyncIterator[LiveStandin]:
    async with start_process(args) as (url, _process, lines):
        standin = LiveStandin(url, lines)
        yield standin
    assert standin.violations() == [], "the Live client sent events the openai types reject"


async def _live(*args: str) -> AsyncIterator[LiveStandin]:
    """The stand-in as an async generator, for fixtures (test_live_fallback.py)."""
    async with live_standin(*args) as standin:
        yield standin


@pytest.fixture
async def live() -> AsyncIterator[LiveStandin]:
    async with live_standin("--transcript", "Turn on the kitchen light.") as standin:
        yield standin


@pytest.fixture
async def live_without_access() -> AsyncIterator[LiveStandin]:
    async with live_standin("--access", "model_not_found") as standin:
        yield standin


async def load_live(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    live: LiveStandin,
    *,
    wait_for_session: bool = True,
    **options: Any,
) -> SatelliteEntry:
    """A Live satellite's entry on the stand-in ``live``, with ``options`` beside, set up (by
    default also waiting for its Realtime session, as :func:`load_entry` does)."""
    entry = entry_for(
        standin,
        satellite,
        **{CONF_CONVERSATION_MODE: MODE_LIVE, CONF_LIVE_URL: live.url, **options},
    )
    await load_entry(hass, entry, wait_for_session=wait_for_session)
    return entry


def voiced_ms(pcm: bytes) -> int:
    """How much of ``pcm`` (PCM16 24 kHz) is the model's voice, in 20 ms blocks."""
    samples = np.frombuffer(bytes(pcm[: len(pcm) // 960 * 960]), dtype="<i2").reshape(-1, 480)
    return int(np.count_nonzero(np.abs(samples).max(axis=1) > 300)) * 20


def played(satellite: LinkSatellite) -> dict[str, int]:
    """The answer streams the satellite got, and how many ms of audio each."""
    return {
        stream_id: len(pcm) // 48
        for stream_id, pcm in satellite.played.items()
        if stream_id.startswith("live_")
    }


async def test_a_live_conversation_turns_on_the_light_through_home_assistants_agent(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    live: LiveStandin,
    kitchen_light: str,
) -> None:
    entry = await load_live(hass, standin, satellite, live)
    manager = entry.runtime_data.manager
    ended = collect(hass, "realtime_voice_conversation_ended")
    assert manager.brain.live_session is None  # nothing is open (billed) before the wake word
    assert hass.states.get(kitchen_light).state == "off"

    await satellite.say(tone(1.0))
    await satellite.stream(silence(1.0))  # the satellite streams until HA says stop
    await wait_until(lambda: hass.states.get(kitchen_light).state == "on", within=30)
    # the agent's answer, spoken by the model, plays on the satellite as it arrives
    await wait_until(lambda: any(ms > 300 for ms in played(satellite).values()), within=30)
    # no stop_listening while the model answered: the microphone stayed open
    kinds = [type(command).__name__ for command in satellite.commands]
    assert "StopListening" not in kinds[: kinds.index("PlayStart")]
    # and the satellite (link protocol 4) was asked to stream while it speaks, before it did
    full_duplex = satellite.commands.index(protocol.Listen(full_duplex=True))
    assert full_duplex < kinds.index("PlayStart")
    await wait_until(lambda: bool(ended), within=30)
    assert ended[0].data["reason"] == "done"
    assert ended[0].data["user"] == ["Turn on the kitchen light."]
    assert ended[0].data["tool_calls"] >= 1
    # the session is closed after the conversation (billed per minute while open)
    await wait_until(lambda: manager.brain.live_session is None)
    await wait_until(lambda: manager.figures.total_cost_usd > 0)
    assert manager.figures.total_cost_usd < 0.01  # a few seconds at $0.05 a minute


async def test_a_key_without_live_access_falls_back_to_the_realtime_brain(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    live_without_access: LiveStandin,
) -> None:
    entry = await load_live(hass, standin, satellite, live_without_access)
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(1.0))
    await satellite.stream(silence(1.0))
    await wait_until(lambda: bool(ended), within=30)
    # the same utterance, no second wake word: Realtime answered it
    assert ended[0].data["reason"] == "done"
    assert any(pcm for stream_id, pcm in satellite.played.items() if stream_id.startswith("resp"))
    issue = ir.async_get(hass).async_get_issue(DOMAIN, f"live_no_access_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "live_no_access"
    assert "model_not_found" in issue.translation_placeholders["reason"]


async def test_barge_in_is_the_models_and_the_conversation_goes_on(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite, live: LiveStandin
) -> None:
    satellite.finish_playback = False
    entry = await load_live(hass, standin, satellite, live, **{CONF_FOLLOW_UP_SECONDS: 8.0})
    manager = entry.runtime_data.manager
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(1.0))
    await satellite.stream(silence(1.0))
    await wait_until(lambda: bool(played(satellite)), within=30)
    first = next(iter(played(satellite)))
    await satellite.barge_in(played_ms=200)
    await wait_until(lambda: manager.state == "listening")
    # the user speaks over the model, which stops by itself and answers again
    await satellite.stream(tone(1.0) + silence(1.0))
    await wait_until(lambda: len(played(satellite)) >= 2, within=30)
    assert not ended  # one conversation, one Live session
    assert manager.brain.live_session is not None
    assert first in satellite.played
    await manager.async_stop_conversation()
    await wait_until(lambda: manager.brain.live_session is None)


async def test_an_announcement_on_a_live_satellite_is_spoken_by_the_realtime_brain(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite, live: LiveStandin
) -> None:
    entry = await load_live(hass, standin, satellite, live)
    manager = entry.runtime_data.manager
    await manager.async_announce("The washing machine has finished.", preannounce=False)
    announced = [
        pcm for stream_id, pcm in satellite.played.items() if stream_id.startswith("announce")
    ]
    assert announced
    assert len(announced[0]) > 24_000
    assert manager.brain.live_session is None  # no Live session was opened for it


async def test_the_options_refuse_live_when_the_satellite_reports_echo_cancellation_off(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    satellite.info = replace(satellite.info, echo_cancellation=False)
    entry = entry_for(standin, satellite)
    await load_entry(hass, entry, wait_for_session=False)
    await wait_until(lambda: entry.runtime_data.link.info is not None)
    result = await save_shown_form(hass, entry, {CONF_CONVERSATION_MODE: MODE_LIVE})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"conversation": "live_needs_echo_cancellation"}
    assert "echo cancellation off" in result["description_placeholders"]["detail"]
    assert CONF_CONVERSATION_MODE not in entry.options

    # on (or not reported, by a satellite from before the report): Live is saved
    entry.runtime_data.link.info = replace(entry.runtime_data.link.info, echo_cancellation=True)
    result = await save_shown_form(
        hass, entry, {CONF_CONVERSATION_MODE: MODE_LIVE, CONF_LIVE_MODEL: "gpt-live-1"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result.get("errors")
    assert entry.options[CONF_CONVERSATION_MODE] == MODE_LIVE
    assert entry.options[CONF_LIVE_MODEL] == "gpt-live-1"
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_delegation_that_fails_in_home_assistant_is_an_apology_not_a_stuck_state(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite, live: LiveStandin
) -> None:
    entry = await load_live(
        hass, standin, satellite, live, **{CONF_LIVE_AGENT: "conversation.removed_agent"}
    )
    manager = entry.runtime_data.manager
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(1.0))
    await satellite.stream(silence(1.0))
    await wait_until(lambda: bool(ended), within=30)
    assert ended[0].data["reason"] == "done"  # answered, then idle: nothing waits forever
    assert "could not handle" in " ".join(ended[0].data["assistant"])
    assert any(ms > 300 for ms in played(satellite).values())  # the apology was spoken
    await wait_until(lambda: manager.state == "idle")


async def test_a_pause_mid_answer_does_not_split_or_cut_it(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """The model pauses 1 s mid-answer and sends its audio faster than the satellite plays it:
    the second half goes on in the same stream, behind the first (a new stream would replace,
    and so cut, the one still playing)."""
    reply = "one two three four five six"
    args = ("--transcript", "What time is it?", "--reply", reply, "--pause-ms", "1000")
    async with live_standin(*args) as live:
        entry = await load_live(hass, standin, satellite, live, **{CONF_FOLLOW_UP_SECONDS: 0})
        manager = entry.runtime_data.manager
        ended = collect(hass, "realtime_voice_conversation_ended")
        await satellite.say(tone(1.0))
        await satellite.stream(silence(3.0))
        await wait_until(lambda: bool(ended), within=30)
        assert ended[0].data["reason"] == "done"
        assert ended[0].data["assistant"] == [reply]
        streams = {k: v for k, v in satellite.played.items() if k.startswith("live_")}
        assert len(streams) == 1, list(streams)
        (pcm,) = streams.values()
        assert voiced_ms(pcm) == 720  # both halves (120 ms a word)
        await wait_until(lambda: manager.state == "idle")


async def test_the_model_stopping_for_the_user_silences_its_answer_at_once(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite
) -> None:
    """Barge-in is the model's: the user speaks over it, it stops; the rest of that answer that
    the satellite holds is stopped (stop_playback), not played out before the next answer."""
    satellite.finish_playback = False
    reply = " ".join(["word"] * 20)
    async with live_standin("--transcript", "Tell me a story.", "--reply", reply) as live:
        entry = await load_live(hass, standin, satellite, live, **{CONF_FOLLOW_UP_SECONDS: 8.0})
        manager = entry.runtime_data.manager
        await satellite.say(tone(1.0))
        await satellite.stream(silence(0.7))
        await wait_until(lambda: bool(played(satellite)), within=30)
        first = next(iter(played(satellite)))
        await satellite.stream(tone(0.4) + silence(1.0))  # the user speaks over it
        await wait_until(lambda: protocol.StopPlayback(first) in satellite.commands, within=30)
        assert protocol.PlayEnd(first) not in satellite.commands
        assert voiced_ms(satellite.played[first]) < 20 * 120  # not the whole answer
        await satellite.stream(silence(1.0))
        await wait_until(lambda: len(played(satellite)) >= 2, within=30)  # it answers again
        assert manager.brain.live_session is not None  # the same conversation
        await manager.async_stop_conversation()
        await wait_until(lambda: manager.state == "idle")


class BrokenAgent(conversation.AbstractConversationAgent):
    """An agent that never answers (a cloud agent that hangs), or one with a bug."""

    def __init__(self, hangs: bool) -> None:
        self.hangs = hangs
        self.cancelled = asyncio.Event()

    @property
    def supported_languages(self) -> str:
        return "*"

    async def async_process(
        self, user_input: conversation.ConversationInput
    ) -> conversation.ConversationResult:
        if not self.hangs:
            raise RuntimeError("a bug in the agent")
        try:
            await asyncio.Event().wait()
        finally:
            self.cancelled.set()
        raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("hangs", "apology"), [(True, "did not finish"), (False, "(an internal error)")]
)
async def test_a_delegation_that_hangs_or_breaks_in_home_assistant_gets_an_apology_in_time(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    live: LiveStandin,
    *,
    monkeypatch: pytest.MonkeyPatch,
    hangs: bool,
    apology: str,
) -> None:
    monkeypatch.setattr(live_brain, "DELEGATION_TIMEOUT_S", 1.0)
    owner = MockConfigEntry(domain="test")
    owner.add_to_hass(hass)
    agent = BrokenAgent(hangs)
    conversation.async_set_agent(hass, owner, agent)
    entry = await load_live(
        hass,
        standin,
        satellite,
        live,
        **{CONF_LIVE_AGENT: owner.entry_id, CONF_FOLLOW_UP_SECONDS: 0},
    )
    manager = entry.runtime_data.manager
    ended = collect(hass, "realtime_voice_conversation_ended")
    await satellite.say(tone(1.0))
    await satellite.stream(silence(1.0))
    await wait_until(lambda: bool(ended), within=30)
    assert agent.cancelled.is_set() == hangs  # a hanging call is cancelled
    assert ended[0].data["reason"] == "done"  # the conversation went on: the apology was spoken
    assert apology in " ".join(ended[0].data["assistant"])
    assert any(ms > 300 for ms in played(satellite).values())
    await wait_until(lambda: manager.state == "idle")


@pytest.mark.parametrize("during", ["answer", "delegation"])
async def test_a_session_the_service_closes_ends_the_conversation_cleanly(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    kitchen_light: str,
    during: str,
) -> None:
    """The service ends the session mid-answer or mid-delegation (connection_lost): the
    satellite stops, the state goes back to idle, and the next wake word opens a new session."""
    transcript = "Turn on the kitchen light." if during == "delegation" else "Tell me a story."
    reply = " ".join(["word"] * 20)
    args = ("--transcript", transcript, "--reply", reply, "--close-during", during)
    async with live_standin(*args) as live:
        entry = await load_live(hass, standin, satellite, live, **{CONF_FOLLOW_UP_SECONDS: 0})
        manager = entry.runtime_data.manager
        ended = collect(hass, "realtime_voice_conversation_ended")
        await satellite.say(tone(1.0))
        await satellite.stream(silence(3.0))
        await wait_until(lambda: bool(ended), within=30)
        reason = ended[0].data["reason"]
        assert reason == ("session_closed" if during == "answer" else "connection_lost")
        await wait_until(lambda: manager.state == "idle")
        assert manager.brain.live_session is None
        # the microphone is closed (the satellite gets it over the link: it may come after idle)
        await wait_until(lambda: protocol.StopListening() in satellite.commands)
        if during == "answer":
            first = next(iter(played(satellite)))
            # and the answer stopped
            await wait_until(lambda: protocol.StopPlayback(first) in satellite.commands)
        # the next wake word: a new session, a whole conversation
        await satellite.say(tone(1.0))
        await satellite.stream(silence(3.0))
        await wait_until(lambda: len(ended) == 2, within=30)
        assert ended[1].data["reason"] == "done"
        await wait_until(lambda: manager.state == "idle")


async def test_a_delegation_with_nothing_heard_is_an_apology(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite, tmp_path: Path
) -> None:
    """The model delegates while no words of the user were transcribed: nothing goes to HA's
    agent, the model is told it did not hear what to do."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"transcript": "", "delegate_pattern": "^$"}))
    async with live_standin("--script", str(script)) as live:
        await load_live(hass, standin, satellite, live, **{CONF_FOLLOW_UP_SECONDS: 0})
        ended = collect(hass, "realtime_voice_conversation_ended")
        await satellite.say(tone(1.0))
        await satellite.stream(silence(1.0))
        await wait_until(lambda: bool(ended), within=30)
        assert ended[0].data["reason"] == "done"
        assert ended[0].data["user"] == []
        assert "did not hear what to do" in " ".join(ended[0].data["assistant"])


@pytest.mark.parametrize(
    "standin_config", [StandinConfig(endpoint="ga", api_key=API_KEY, transcript="Yes please.")]
)
async def test_ask_question_on_a_live_satellite_is_answered_through_realtime(
    hass: HomeAssistant, standin: StandinServer, satellite: LinkSatellite, live: LiveStandin
) -> None:
    """HA must hear the answer and Live cannot hold its reply: the Realtime brain takes the turn,
    half duplex, and no Live session is opened (billed) for it."""
    entry = await load_live(hass, standin, satellite, live)
    manager = entry.runtime_data.manager
    pending = hass.async_create_task(
        hass.services.async_call(
            "assist_satellite",
            "ask_question",
            {
                "entity_id": "assist_satellite.kitchen",
                "question": "Do you want me to close the garage?",
                "preannounce": False,
                "answers": [{"id": "yes", "sentences": ["yes [please]"]}],
            },
            blocking=True,
            return_response=True,
        )
    )
    await wait_until(lambda: protocol.Listen() in satellite.commands)
    assert manager.brain.live_session is None
    await satellite.stream(tone(0.8) + silence(1.0))
    result = await asyncio.wait_for(pending, 15)
    assert result == {"id": "yes", "sentence": "Yes please.", "slots": {}}
    assert protocol.Listen(full_duplex=True) not in satellite.commands
    assert manager.brain.live_session is None
    await wait_until(lambda: manager.state == "idle")


async def stream_in_real_time(satellite: LinkSatellite, pcm: bytes) -> None:
    """The microphone's pace: a 20 ms frame every 20 ms (the Live clock moves with it)."""
    assert satellite.server is not None
    loop = asyncio.get_running_loop()
    start = loop.time()
    for index, offset in enumerate(range(0, len(pcm), protocol.AUDIO_FRAME_BYTES)):
        await satellite.server.send_audio(pcm[offset : offset + protocol.AUDIO_FRAME_BYTES])
        await asyncio.sleep(max(0.0, start + (index + 1) * 0.02 - loop.time()))


@pytest.mark.parametrize(("pause_ms", "streams"), [(400, 1), (1200, 2)])
async def test_at_the_services_pace_an_answer_ends_only_once_played(
    hass: HomeAssistant,
    standin: StandinServer,
    satellite: LinkSatellite,
    pause_ms: int,
    streams: int,
) -> None:
    """Output at the pace of the input: a short pause goes on in the same stream; after a long
    one the first stream has played out (play_end, the satellite's report) before the next
    starts, so both halves are heard whole."""
    reply = "one two three four five six"
    args = ("--transcript", "What time is it?", "--reply", reply, "--pause-ms", str(pause_ms))
    async with live_standin(*args) as live:
        entry = await load_live(hass, standin, satellite, live, **{CONF_FOLLOW_UP_SECONDS: 5.0})
        manager = entry.runtime_data.manager
        await satellite.say(tone(1.0))
        await stream_in_real_time(satellite, silence(1.5 + pause_ms / 1000 + 1.5))
        answers = {k: v for k, v in satellite.played.items() if k.startswith("live_")}
        assert [voiced_ms(pcm) for pcm in answers.values()] == [720 // streams] * streams
        if streams == 2:
            first, second = answers
            commands = satellite.commands
            assert commands.index(protocol.PlayEnd(first)) < commands.index(
                protocol.PlayStart(second, "response")
            )
        assert not any(isinstance(c, protocol.StopPlayback) for c in satellite.commands)
        await manager.async_stop_conversation()
        await wait_until(lambda: manager.state == "idle")
