"""The conversation engine without Home Assistant: a fake brain and a fake satellite link that
behave like the real ones (the Realtime brain's event order; the satellite's reports), driving the
HA-free engine of core/conversation (issue #26: the engine testable without hass)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from realtime_voice_core.conversation import (
    BrainAbilities,
    ConversationEngine,
    SatelliteOfflineError,
    StreamSender,
    Turn,
    TurnRefused,
)
from realtime_voice_core.conversation import brain as b
from realtime_voice_core.conversation import engine as engine_module
from realtime_voice_core.link import Audio, LinkEvent
from realtime_voice_core.link import protocol as p
from tests.helpers.waiting import wait_until

ERROR_TONE = b"\x01\x00" * 240
FRAME = b"\x00\x00" * 480  # 20 ms of the link's audio


class FakeSatellite:
    """The link as the engine sees it, with the satellite's behaviour behind it: it plays a stream
    as soon as it has ended (reporting what it played), stops on command (reporting how far it got),
    and its reports and microphone come in order through one pump, like SatelliteConnection's."""

    def __init__(self) -> None:
        self.name = "kitchen"
        self.available = True
        self.commands: list[p.Message] = []
        self.played: dict[str, bytearray] = {}
        self._events: asyncio.Queue[LinkEvent] = asyncio.Queue()
        self._pump: asyncio.Task[None] | None = None

    def attach(self, handler: Callable[[LinkEvent], Any]) -> None:
        async def pump() -> None:
            while True:
                await handler(await self._events.get())
                self._events.task_done()

        self._pump = asyncio.get_running_loop().create_task(pump())

    async def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()

    def async_add_availability_listener(self, listener: Callable[[], None]) -> Callable[[], None]:
        return lambda: None

    def _check(self) -> None:
        if not self.available:
            raise SatelliteOfflineError(f"Satellite {self.name} is offline")

    def report(self, event: LinkEvent) -> None:
        self._events.put_nowait(event)

    async def delivered(self) -> None:
        """Every report and microphone frame so far was handled by the engine."""
        await self._events.join()

    async def listen(self, timeout_s: float | None = None, *, full_duplex: bool = False) -> None:
        self._check()
        self.commands.append(p.Listen(timeout_s, True if full_duplex else None))

    async def stop_listening(self) -> None:
        self._check()
        self.commands.append(p.StopListening())

    async def play_start(self, stream_id: str, kind: p.PlayKind = "response") -> None:
        self._check()
        self.commands.append(p.PlayStart(stream_id, kind))
        self.played[stream_id] = bytearray()

    async def play_audio(self, pcm: bytes) -> None:
        self._check()
        stream_id = next(reversed(self.played))
        self.played[stream_id].extend(pcm)

    async def play_media_audio(self, pcm: bytes) -> None:
        await self.play_audio(pcm)

    async def play_end(self, stream_id: str) -> None:
        self._check()
        self.commands.append(p.PlayEnd(stream_id))
        self.report(p.PlaybackFinished(stream_id, self.ms(stream_id)))

    async def stop_playback(self, stream_id: str | None = None) -> None:
        self._check()
        self.commands.append(p.StopPlayback(stream_id))
        if stream_id in self.played:
            self.report(p.PlaybackStopped(stream_id, self.ms(stream_id) // 2, "command"))

    def ms(self, stream_id: str) -> int:
        return len(self.played[stream_id]) * 1000 // (p.AUDIO_RATE * p.AUDIO_SAMPLE_BYTES)

    # what the user does at the satellite
    def wake(self) -> None:
        self.report(p.Wake("okay_nabu", 0.9, 0.0))

    def speak(self, frames: int = 5) -> None:
        for _ in range(frames):
            self.report(Audio(FRAME))

    def barge_in(self, stream_id: str, played_ms: int) -> None:
        self.report(p.BargeIn("okay_nabu", 0.9, stream_id))
        self.report(p.PlaybackStopped(stream_id, played_ms, "barge_in"))

    def stop_word(self, stream_id: str, played_ms: int) -> None:
        self.report(p.StopWord("stop", 0.9, stream_id))
        self.report(p.PlaybackStopped(stream_id, played_ms, "stop_word"))

    def kinds(self) -> list[str]:
        return [type(c).__name__ for c in self.commands]


class FakeBrain:
    """A brain that answers like the Realtime brain does: speech started/stopped, then an answer's
    start, audio, audio done and done, in that order; it records what the engine asked of it."""

    def __init__(
        self, abilities: BrainAbilities | None = None, refuse: TurnRefused | None = None
    ) -> None:
        self.abilities = abilities or BrainAbilities()
        self.refuse = refuse
        self.handler: b.BrainEventHandler | None = None
        self.turns: list[Turn] = []
        self.heard = bytearray()
        self.calls: list[tuple[str, Any]] = []
        self.listen_at_least = 0.0
        self.ready = asyncio.Event()
        self.ready.set()

    def attach(self, handler: b.BrainEventHandler) -> None:
        self.handler = handler

    async def emit(self, event: b.BrainEvent) -> None:
        assert self.handler is not None
        await self.handler(event)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def start_turn(self, turn: Turn, take_audio: Callable[[], bytes]) -> None:
        self.turns.append(turn)
        if self.refuse is not None:
            raise self.refuse
        await self.ready.wait()  # the session opening
        self.heard.extend(take_audio())

    async def send_audio(self, pcm: bytes) -> None:
        self.heard.extend(pcm)

    async def next_turn(self) -> None:
        self.calls.append(("next_turn", None))

    async def cancel(self) -> None:
        self.calls.append(("cancel", None))

    async def truncate(self, answer_id: str, played_ms: int) -> None:
        self.calls.append(("truncate", (answer_id, played_ms)))

    async def end_turn(self, *, answering: bool, listening: bool) -> None:
        self.calls.append(("end_turn", (answering, listening)))

    def drop_context(self, done: Callable[[], None]) -> None:
        self.calls.append(("drop_context", None))
        asyncio.get_running_loop().call_soon(done)

    def listen_at_least_s(self) -> float:
        return self.listen_at_least

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        yield FRAME

    async def answer(
        self, answer_id: str, frames: int = 10, *, outcome: b.AnswerOutcome = "done"
    ) -> None:
        """The user stopped; the brain answers with ``frames`` of audio."""
        await self.emit(b.SpeechStopped())
        await self.emit(b.AnswerStarted(answer_id))
        for _ in range(frames):
            await self.emit(b.AnswerAudio(answer_id, FRAME))
        await self.emit(b.AnswerAudioDone(answer_id))
        await self.emit(b.AnswerDone(answer_id, outcome))


class Setup:
    def __init__(self, brain: FakeBrain, follow_up_s: float = 0.0) -> None:
        self.satellite = FakeSatellite()
        self.brain = brain
        self.reports: list[tuple[str, dict[str, Any]]] = []
        self.follow_up_s = follow_up_s
        self.engine = ConversationEngine(
            self.satellite,
            brain,
            StreamSender(self.satellite),
            follow_up_s=lambda: self.follow_up_s,
            error_tone=lambda: ERROR_TONE,
            report=lambda kind, data: self.reports.append((kind, data)),
        )
        self.satellite.attach(self.engine.on_link_event)

    async def close(self) -> None:
        self.engine.stop()
        await self.satellite.close()

    def ended(self) -> list[dict[str, Any]]:
        return [data for kind, data in self.reports if kind == engine_module.CONVERSATION_ENDED]

    async def until(self, condition: Callable[[], bool], within: float = 2.0) -> None:
        # the states come from tasks
        await wait_until(condition, within=within, every=0.005)


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    s = Setup(FakeBrain())
    yield s
    await s.close()


async def test_a_turn_from_the_wake_word_to_the_answer_and_idle(setup: Setup) -> None:
    satellite, brain, engine = setup.satellite, setup.brain, setup.engine
    brain.ready.clear()  # the session still opens: what the user says is kept for it
    satellite.wake()
    satellite.speak(5)
    await satellite.delivered()
    assert engine.state == "listening"
    assert not brain.heard
    brain.ready.set()
    satellite.speak(3)
    await satellite.delivered()
    await setup.until(lambda: len(brain.heard) == 8 * len(FRAME))  # nothing lost, in order
    assert setup.reports[0] == (
        engine_module.WAKE_WORD_DETECTED,
        {"wake_word": "okay_nabu", "score": 0.9},
    )

    await brain.emit(b.SpeechStarted())
    await brain.emit(b.UserSaid("turn on the light"))
    await brain.answer("resp_1", frames=10)
    await brain.emit(b.AssistantSaid("Done."))
    assert engine.state == "responding"
    # one stream: its id is the answer's, its audio all of the answer's, then its end
    assert satellite.kinds() == ["StopListening", "PlayStart", "PlayEnd"]
    assert satellite.commands[1] == p.PlayStart("resp_1", "response")
    assert bytes(satellite.played["resp_1"]) == FRAME * 10
    await satellite.delivered()  # the satellite reports that it played it
    await setup.until(lambda: engine.state == "idle")
    (ended,) = setup.ended()
    assert ended["reason"] == "done"
    assert ended["user"] == ["turn on the light"]
    assert ended["assistant"] == ["Done."]
    assert ("drop_context", None) in brain.calls
    assert not engine.streams.playbacks


async def test_follow_up_listens_again_without_a_wake_word(setup: Setup) -> None:
    setup.follow_up_s = 5.0
    setup.satellite.wake()
    setup.satellite.speak()
    await setup.satellite.delivered()
    await setup.brain.answer("resp_1")
    await setup.satellite.delivered()
    await setup.until(lambda: setup.engine.state == "follow_up")
    assert setup.satellite.commands[-1] == p.Listen()
    assert ("next_turn", None) in setup.brain.calls
    await setup.brain.emit(b.SpeechStarted())
    assert setup.engine.state == "listening"


async def test_barge_in_cancels_and_truncates_at_what_was_heard(setup: Setup) -> None:
    satellite, brain, engine = setup.satellite, setup.brain, setup.engine
    satellite.wake()
    satellite.speak()
    await satellite.delivered()
    await brain.emit(b.SpeechStopped())
    await brain.emit(b.AnswerStarted("resp_1"))
    await brain.emit(b.AnswerAudio("resp_1", FRAME * 50))
    satellite.barge_in("resp_1", played_ms=400)
    await satellite.delivered()
    assert brain.calls[:2] == [("cancel", None), ("truncate", ("resp_1", 400))]
    assert brain.calls[2] == ("next_turn", None)  # the user speaks again: a new turn
    assert engine.state == "listening"
    assert not setup.ended()  # the same conversation goes on
    # the cancelled answer's late audio goes nowhere
    await brain.emit(b.AnswerAudio("resp_1", FRAME))
    assert len(satellite.played["resp_1"]) == len(FRAME) * 50


async def test_a_brain_that_cannot_cancel_or_truncate_is_not_asked_to() -> None:
    s = Setup(FakeBrain(BrainAbilities(cancel=False, truncate=False)))
    try:
        s.satellite.wake()
        s.satellite.speak()
        await s.satellite.delivered()
        await s.brain.emit(b.SpeechStopped())
        await s.brain.emit(b.AnswerStarted("resp_1"))
        await s.brain.emit(b.AnswerAudio("resp_1", FRAME * 50))
        s.satellite.barge_in("resp_1", played_ms=400)
        await s.satellite.delivered()
        assert not [c for c in s.brain.calls if c[0] in ("cancel", "truncate")]
        assert s.engine.state == "listening"
    finally:
        await s.close()


async def test_stop_word_truncates_then_ends_without_listening(setup: Setup) -> None:
    satellite, brain, engine = setup.satellite, setup.brain, setup.engine
    satellite.wake()
    satellite.speak()
    await satellite.delivered()
    await brain.emit(b.SpeechStopped())
    await brain.emit(b.AnswerStarted("resp_1"))
    await brain.emit(b.AnswerAudio("resp_1", FRAME * 50))
    satellite.stop_word("resp_1", played_ms=300)
    await satellite.delivered()
    await setup.until(lambda: engine.state == "idle")
    names = [name for name, _ in brain.calls]
    assert names.index("truncate") < names.index("end_turn") < names.index("drop_context")
    assert ("truncate", ("resp_1", 300)) in brain.calls
    assert [e["reason"] for e in setup.ended()] == ["stop_word"]
    assert p.Listen() not in satellite.commands[2:]


async def test_a_refused_turn_plays_the_error_tone_and_ends() -> None:
    s = Setup(FakeBrain(refuse=TurnRefused("error: invalid_api_key")))
    try:
        s.satellite.wake()
        await s.satellite.delivered()
        await s.until(lambda: s.engine.state == "idle")
        (tone,) = [c for c in s.satellite.commands if isinstance(c, p.PlayStart)]
        assert tone.kind == "chime"
        assert bytes(s.satellite.played[tone.stream_id]) == ERROR_TONE
        assert [e["reason"] for e in s.ended()] == ["error: invalid_api_key"]
    finally:
        await s.close()


async def test_an_answer_that_fails_before_any_audio_plays_the_error_tone_and_says_why(
    setup: Setup,
) -> None:
    satellite, brain, engine = setup.satellite, setup.brain, setup.engine
    satellite.wake()
    await satellite.delivered()
    await brain.emit(b.SpeechStopped())
    await brain.emit(b.AnswerStarted("resp_1"))
    await brain.emit(b.AnswerDone("resp_1", "failed", error="intent-failed"))
    await satellite.delivered()
    await setup.until(lambda: engine.state == "idle")
    (tone,) = [c for c in satellite.commands if isinstance(c, p.PlayStart)]
    assert tone.kind == "chime"
    assert bytes(satellite.played[tone.stream_id]) == ERROR_TONE
    assert [e["reason"] for e in setup.ended()] == ["error: intent-failed"]


async def test_connection_lost_while_speaking_says_so_at_once(setup: Setup) -> None:
    setup.satellite.wake()
    setup.satellite.speak()
    await setup.satellite.delivered()
    await setup.brain.emit(b.ConnectionLost())
    (ended,) = setup.ended()
    assert (ended["reason"], ended["lost"]) == ("connection_lost", "speech")
    assert any(isinstance(c, p.PlayStart) and c.kind == "chime" for c in setup.satellite.commands)
    assert ("end_turn", (False, True)) in setup.brain.calls


async def test_the_watchdog_ends_a_conversation_nobody_speaks_in(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "NO_SPEECH_TIMEOUT_S", 0.05)
    setup.satellite.wake()
    await setup.satellite.delivered()
    for _ in range(20):  # the satellite streams; nobody speaks
        setup.satellite.speak(1)
        await asyncio.sleep(0.01)
    await setup.until(lambda: bool(setup.ended()))
    assert setup.ended()[0]["reason"] == "no_speech"
    assert p.StopListening() in setup.satellite.commands


async def test_a_satellite_that_stops_streaming_ends_the_conversation(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "NO_AUDIO_TIMEOUT_S", 0.05)
    setup.satellite.wake()
    await setup.satellite.delivered()
    await setup.until(lambda: bool(setup.ended()))
    assert setup.ended()[0]["reason"] == "no_audio"


async def test_an_announcement_takes_the_turn_of_a_silent_follow_up(setup: Setup) -> None:
    setup.follow_up_s = 30.0
    setup.satellite.wake()
    setup.satellite.speak()
    await setup.satellite.delivered()
    await setup.brain.answer("resp_1")
    await setup.satellite.delivered()
    await setup.until(lambda: setup.engine.state == "follow_up")
    await setup.engine.take_turn_for_announcement()
    assert setup.engine.announcing
    assert [e["reason"] for e in setup.ended()] == ["announcement"]
    setup.engine.announcement_finished()
    assert setup.engine.state == "idle"


async def test_a_stop_word_during_an_announcement_stops_only_it(setup: Setup) -> None:
    await setup.engine.take_turn_for_announcement()
    stream = setup.engine.streams.open(
        "announcement", lead_s=0.5, wanted=lambda: setup.engine.announcing
    )
    await stream.start()
    await stream.send(FRAME * 10)
    setup.satellite.report(p.StopWord("stop", 0.9, stream.stream_id))
    await setup.satellite.delivered()
    assert stream.playback.stop_word
    assert not stream.wanted
    await stream.send(FRAME * 10)  # nothing more goes out
    assert len(setup.satellite.played[stream.stream_id]) == len(FRAME) * 10
    assert setup.engine.announcing  # the announcer ends its turn, not the stop word
    assert not setup.ended()


async def test_the_stream_sender_paces_ahead_of_playback(setup: Setup) -> None:
    stream = setup.engine.streams.open("media", lead_s=0.2)
    await stream.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await stream.send(FRAME * 30)  # 0.6 s of audio, at most 0.2 s ahead
    took = loop.time() - started
    assert 0.3 < took < 0.6
    assert stream.unplayed_s <= 0.2 + 0.1 + 0.05  # one chunk (0.1 s) over the lead at most
    await stream.end()
    assert await stream.finished(0.5) == 600
    stream.close()
    assert not setup.engine.streams.playbacks


async def test_link_commands_to_an_offline_satellite_do_not_break_the_engine(
    setup: Setup,
) -> None:
    setup.satellite.wake()
    setup.satellite.speak()
    await setup.satellite.delivered()
    setup.satellite.available = False
    await setup.brain.answer("resp_1")  # play_start, audio and play_end all refused
    setup.satellite.report(p.ListenEnd("disconnected"))
    await setup.satellite.delivered()
    await setup.until(lambda: setup.engine.state == "idle")
    assert [e["reason"] for e in setup.ended()] == ["disconnected"]
    assert not setup.engine.streams.playbacks


async def test_stopping_a_conversation_silences_its_answer_on_the_satellite(setup: Setup) -> None:
    setup.satellite.wake()
    setup.satellite.speak()
    await setup.satellite.delivered()
    await setup.brain.emit(b.SpeechStopped())
    await setup.brain.emit(b.AnswerStarted("resp_1"))
    await setup.brain.emit(b.AnswerAudio("resp_1", FRAME * 50))
    await setup.engine.stop_conversation()  # the mute switch
    assert p.StopPlayback("resp_1") in setup.satellite.commands
    assert [e["reason"] for e in setup.ended()] == ["stopped"]
    assert ("end_turn", (True, False)) in setup.brain.calls  # an answer was in flight
    await setup.satellite.delivered()  # its late report changes nothing
    await setup.until(lambda: setup.engine.state == "idle")
    assert not setup.engine.streams.playbacks
