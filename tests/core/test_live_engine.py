"""The conversation engine with a full-duplex brain (GPT-Live, issue #27): the microphone stays open
for the whole conversation, barge-in is the brain's, and the brain's input keeps flowing (silence
in place of a stalled satellite). The fake link and brain are those of the engine's own tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from realtime_voice_core.conversation import BrainAbilities
from realtime_voice_core.conversation import brain as b
from realtime_voice_core.conversation import engine as engine_module
from realtime_voice_core.link import Audio
from realtime_voice_core.link import protocol as p

from .test_conversation_engine import FRAME, FakeBrain, Setup

VOICE = b"\x01\x00" * 480  # 20 ms that are not silence
LIVE = BrainAbilities(cancel=False, truncate=False, full_duplex=True)


@pytest.fixture
async def live() -> AsyncIterator[Setup]:
    s = Setup(FakeBrain(LIVE), follow_up_s=5.0)
    yield s
    await s.close()


async def test_the_microphone_stays_open_while_the_brain_answers(live: Setup) -> None:
    satellite, brain, engine = live.satellite, live.brain, live.engine
    satellite.wake()
    satellite.speak()
    await satellite.delivered()
    await brain.emit(b.SpeechStarted())
    await brain.emit(b.SpeechStopped())
    assert engine.state == "processing"
    assert "StopListening" not in satellite.kinds()
    satellite.speak(3)  # the user goes on: the brain hears it
    await satellite.delivered()
    await brain.emit(b.SpeechStarted())
    assert engine.state == "listening"  # USER_SPEAKS: the answer has not begun
    await brain.answer("live_1", frames=5)
    assert "StopListening" not in satellite.kinds()
    await satellite.delivered()
    await live.until(lambda: engine.state == "follow_up")
    await engine.stop_conversation()
    # the conversation's end closes the microphone, whatever the state
    assert satellite.kinds()[-1] == "StopListening"


class LiveLikeBrain(FakeBrain):
    """Full duplex while its session is open, as the Live brain: ``end_turn`` closes the session,
    and then its abilities are those of the half-duplex brain beside it."""

    async def end_turn(self, *, answering: bool, listening: bool) -> None:
        await super().end_turn(answering=answering, listening=listening)
        self.abilities = BrainAbilities()


async def test_the_end_of_a_live_conversation_closes_the_microphone_after_the_answer() -> None:
    """No follow-up window: the conversation ends with the answer, in no listening state; the
    satellite streaming in full duplex is told to stop (else its microphone goes on to HA until
    its own listen timeout), though the brain stopped being full duplex as the turn ended."""
    s = Setup(LiveLikeBrain(LIVE), follow_up_s=0.0)
    try:
        s.satellite.wake()
        s.satellite.speak()
        await s.satellite.delivered()
        await s.brain.answer("live_1", frames=3)
        await s.satellite.delivered()
        await s.until(lambda: s.engine.state == "idle")
        assert s.ended()[-1]["reason"] == "done"
        assert s.satellite.kinds()[-1] == "StopListening"
    finally:
        await s.close()


async def test_the_satellite_is_asked_for_full_duplex_at_every_listen(live: Setup) -> None:
    """After the wake word (the satellite listens already: the listen turns it to full duplex),
    for the follow-up and at start_conversation: ``listen`` with ``full_duplex``, which keeps its
    microphone streaming while it speaks (link protocol 4)."""
    satellite, brain, engine = live.satellite, live.brain, live.engine
    satellite.wake()
    await satellite.delivered()
    assert satellite.commands == [p.Listen(full_duplex=True)]
    satellite.speak()
    await satellite.delivered()
    await brain.answer("live_1", frames=3)
    await satellite.delivered()
    await live.until(lambda: engine.state == "follow_up")
    assert satellite.commands[-1] == p.Listen(full_duplex=True)
    await engine.stop_conversation()
    await live.until(lambda: engine.state == "idle")
    await engine.start_conversation("start_conversation")
    assert satellite.commands[-1] == p.Listen(full_duplex=True)


async def test_full_duplex_is_asked_once_the_live_session_is_open() -> None:
    """The Live brain is full duplex only once its session opened (after the wake word, when the
    conversation has started): its ``Changed`` then turns the satellite's listening to full
    duplex, once per conversation."""
    s = Setup(FakeBrain(), follow_up_s=5.0)
    try:
        s.satellite.wake()
        await s.satellite.delivered()
        assert s.satellite.commands == []
        s.brain.abilities = LIVE
        await s.brain.emit(b.Changed())
        await s.brain.emit(b.Changed())
        assert s.satellite.commands == [p.Listen(full_duplex=True)]
        await s.engine.stop_conversation()
        s.satellite.wake()  # a new conversation: asked again
        await s.satellite.delivered()
        assert s.satellite.commands[-1] == p.Listen(full_duplex=True)
        assert s.satellite.commands.count(p.Listen(full_duplex=True)) == 2
    finally:
        await s.close()


async def test_a_half_duplex_brain_asks_to_listen_as_before() -> None:
    s = Setup(FakeBrain(), follow_up_s=5.0)
    try:
        s.satellite.wake()
        s.satellite.speak()
        await s.satellite.delivered()
        assert s.satellite.commands == []  # it listens since the wake word
        await s.engine.start_conversation("start_conversation")  # busy: nothing
        await s.brain.answer("resp_1", frames=3)
        await s.satellite.delivered()
        await s.until(lambda: s.engine.state == "follow_up")
        assert [c for c in s.satellite.commands if isinstance(c, p.Listen)] == [p.Listen()]
    finally:
        await s.close()


async def test_a_half_duplex_brain_still_closes_the_microphone_at_the_end_of_speech() -> None:
    s = Setup(FakeBrain())
    try:
        s.satellite.wake()
        s.satellite.speak()
        await s.satellite.delivered()
        await s.brain.emit(b.SpeechStopped())
        await s.brain.emit(b.SpeechStarted())
        assert s.engine.state == "processing"  # no USER_SPEAKS without full duplex
        assert s.satellite.kinds() == ["StopListening"]
    finally:
        await s.close()


async def test_barge_in_is_the_brains_own(live: Setup) -> None:
    """The satellite's barge-in stops its playback; a full-duplex brain is not cancelled (even one
    that could be: it heard the user and stops itself), and the rest of that answer is dropped."""
    s = Setup(FakeBrain(BrainAbilities(cancel=True, truncate=False, full_duplex=True)))
    try:
        satellite, brain, engine = s.satellite, s.brain, s.engine
        satellite.wake()
        satellite.speak()
        await satellite.delivered()
        await brain.emit(b.SpeechStopped())
        await brain.emit(b.AnswerStarted("live_1"))
        await brain.emit(b.AnswerAudio("live_1", FRAME * 50))
        satellite.barge_in("live_1", played_ms=400)
        await satellite.delivered()
        assert not [c for c in brain.calls if c[0] in ("cancel", "truncate")]
        assert engine.state == "listening"
        assert not s.ended()
        await brain.emit(b.AnswerAudio("live_1", FRAME))
        assert len(satellite.played["live_1"]) == len(FRAME) * 50
    finally:
        await s.close()


async def test_silence_goes_to_the_brain_while_the_satellite_stalls(live: Setup) -> None:
    satellite, brain = live.satellite, live.brain
    satellite.wake()
    for _ in range(5):
        satellite.report(Audio(VOICE))
    await satellite.delivered()
    await live.until(lambda: len(brain.heard) == 5 * len(FRAME))
    await asyncio.sleep(0.45)  # the satellite sends nothing (its microphone closed for playback)
    silence = bytes(brain.heard[5 * len(FRAME) :])
    assert silence
    assert not any(silence)
    # about the time that passed, in whole 20 ms frames, never more than real time
    assert len(silence) % len(FRAME) == 0
    assert 0.25 <= len(silence) / len(FRAME) * 0.02 <= 0.46
    satellite.report(Audio(VOICE))  # the satellite's audio resumes as it comes
    await satellite.delivered()
    assert bytes(brain.heard[-len(VOICE) :]) == VOICE


async def test_no_silence_for_a_half_duplex_brain_or_after_the_conversation(live: Setup) -> None:
    s = Setup(FakeBrain())
    try:
        s.satellite.wake()
        s.satellite.speak(5)
        await s.satellite.delivered()
        await asyncio.sleep(0.3)
        assert len(s.brain.heard) == 5 * len(FRAME)
    finally:
        await s.close()
    live.satellite.wake()
    await live.satellite.delivered()
    await live.engine.stop_conversation()
    heard = len(live.brain.heard)
    await asyncio.sleep(0.3)
    assert len(live.brain.heard) == heard


async def test_the_silence_window_ends_a_live_conversation_and_the_stop_word_too(
    live: Setup,
) -> None:
    satellite, brain, engine = live.satellite, live.brain, live.engine
    live.follow_up_s = 0.2
    satellite.wake()
    satellite.speak()
    await satellite.delivered()
    await brain.answer("live_1", frames=3)
    await satellite.delivered()
    await live.until(lambda: engine.state == "idle")
    assert live.ended()[-1]["reason"] == "no_speech"
    live.follow_up_s = 5.0
    satellite.wake()
    satellite.speak()
    await satellite.delivered()
    await brain.emit(b.SpeechStopped())
    await brain.emit(b.AnswerStarted("live_2"))
    await brain.emit(b.AnswerAudio("live_2", FRAME * 50))
    satellite.stop_word("live_2", played_ms=300)
    await satellite.delivered()
    await live.until(lambda: engine.state == "idle")
    assert live.ended()[-1]["reason"] == "stop_word"
    assert ("end_turn", (True, False)) in brain.calls
    assert p.StopListening() in satellite.commands
    assert engine_module.STALL_S <= 0.2


async def test_an_answer_the_full_duplex_brain_stopped_for_the_user_is_silenced(
    live: Setup,
) -> None:
    """The model heard the user over its voice and stopped: what the satellite still holds of that
    answer is silenced at once (``stop_playback``, not ``play_end``), the conversation goes on."""
    satellite, brain, engine = live.satellite, live.brain, live.engine
    satellite.wake()
    satellite.speak()
    await satellite.delivered()
    await brain.emit(b.SpeechStopped())
    await brain.emit(b.AnswerStarted("live_1"))
    await brain.emit(b.AnswerAudio("live_1", FRAME * 50))
    await brain.emit(b.AnswerDone("live_1", "stopped"))
    assert satellite.commands[-1] == p.StopPlayback("live_1")
    assert p.PlayEnd("live_1") not in satellite.commands
    satellite.report(p.PlaybackStopped("live_1", 300, "command"))
    await satellite.delivered()
    await live.until(lambda: engine.state == "follow_up")
    assert not live.ended()


async def test_a_full_duplex_answer_that_is_done_plays_out(live: Setup) -> None:
    satellite, brain = live.satellite, live.brain
    satellite.wake()
    satellite.speak()
    await satellite.delivered()
    await brain.emit(b.AnswerStarted("live_1"))
    await brain.emit(b.AnswerAudio("live_1", FRAME * 5))
    await brain.emit(b.AnswerAudioDone("live_1"))
    await brain.emit(b.AnswerDone("live_1", "done"))
    assert p.PlayEnd("live_1") in satellite.commands
    assert p.StopPlayback("live_1") not in satellite.commands
