"""The fallback brain without Home Assistant (issue #26 item 3): a fake primary and a fake fallback
brain behind the real conversation engine and a fake satellite link (tests/core/
test_conversation_engine.py's), and the classification of the Realtime client's errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from realtime_voice_core.conversation import SpeakError, Turn, TurnRefused
from realtime_voice_core.conversation import brain as b
from realtime_voice_core.conversation.fallback import FallbackBrain, FallbackStatus
from realtime_voice_core.realtime import (
    AuthenticationError,
    ConfigurationError,
    InterfaceUnsupportedError,
    ModelUnavailableError,
    ProtocolError,
    RealtimeConnectionError,
    RealtimeError,
    VoiceUnavailableError,
    unavailable_cause,
)
from realtime_voice_core.realtime.connection import error_from_server
from realtime_voice_core.realtime.wire import ServerError

from .test_conversation_engine import FRAME, FakeBrain, Setup

PROBE_S = 0.05  # the first probe's nominal delay in these tests


class Primary(FakeBrain):
    """A Realtime brain as the fallback brain sees it: it refuses turns with the cause of its
    service's failure while ``down`` (as RealtimeBrain does), and its probe says so too."""

    def __init__(self) -> None:
        super().__init__()
        self.down: TurnRefused | None = None
        self.probes = 0
        self.speak_error: SpeakError | None = None

    async def start_turn(self, turn: Turn, take_audio: Callable[[], bytes]) -> None:
        self.turns.append(turn)
        if self.down is not None:
            raise self.down
        await self.ready.wait()
        self.heard.extend(take_audio())

    async def probe(self) -> None:
        self.probes += 1
        if self.down is not None:
            raise self.down

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        if self.speak_error is not None:
            raise self.speak_error
        yield b"primary" + FRAME


class Pipeline(FakeBrain):
    async def speak(self, text: str) -> AsyncIterator[bytes]:
        yield b"pipeline" + FRAME


def refused(cause: str | None) -> TurnRefused:
    return TurnRefused(f"error: {cause}", cause=cause)


class FallbackSetup(Setup):
    def __init__(self, **kwargs: float) -> None:
        self.primary, self.pipeline = Primary(), Pipeline()
        self.statuses: list[FallbackStatus] = []
        self.fallback = FallbackBrain(
            self.primary,
            self.pipeline,
            probe=self.primary.probe,
            on_status=self.statuses.append,
            name="kitchen",
            probe_initial_s=kwargs.get("probe_initial_s", PROBE_S),
            probe_max_s=kwargs.get("probe_max_s", 1.0),
            stable_s=kwargs.get("stable_s", 600.0),
            primary_ready_s=kwargs.get("primary_ready_s", 1.0),
        )
        super().__init__(self.fallback)  # type: ignore[arg-type]

    async def command(self, frames: int = 5) -> None:
        """The wake word and ``frames`` of speech."""
        self.satellite.wake()
        self.satellite.speak(frames)
        await self.satellite.delivered()

    async def answered_by(self, brain: FakeBrain, answer_id: str) -> None:
        await self.until(lambda: self.engine.state == "listening" and bool(brain.heard))
        await brain.answer(answer_id, frames=3)
        await self.satellite.delivered()
        await self.until(lambda: self.engine.state == "idle")


@pytest.fixture
async def setup() -> AsyncIterator[FallbackSetup]:
    s = FallbackSetup()
    yield s
    await s.fallback.stop()
    await s.close()


@pytest.mark.parametrize(
    "cause",
    [
        "network",
        "dns",
        "server_error",
        "rate_limited",
        "insufficient_quota",
        "invalid_api_key",
        "model_not_found",
    ],
)
async def test_each_cause_gives_the_same_utterance_to_the_fallback(
    setup: FallbackSetup, cause: str
) -> None:
    primary, pipeline, engine = setup.primary, setup.pipeline, setup.engine
    primary.down = refused(cause)
    await setup.command(frames=5)
    # all of it, from the wake word on: no second wake word
    await setup.until(lambda: len(pipeline.heard) == 5 * len(FRAME))
    assert not primary.heard
    assert [t.conversation_id for t in primary.turns] == [t.conversation_id for t in pipeline.turns]
    assert ("end_turn", (False, False)) in primary.calls  # its refused turn is ended
    setup.satellite.speak(2)  # what comes next goes to the fallback too
    await setup.satellite.delivered()
    assert len(pipeline.heard) == 7 * len(FRAME)
    await setup.answered_by(pipeline, "pipe_1")
    (ended,) = setup.ended()
    assert ended["reason"] == "done"
    assert chimes(setup) == 0, "no error tone"
    assert setup.fallback.status.active == "fallback"
    assert setup.fallback.status.cause == cause
    assert setup.statuses[0].cause == cause
    assert engine.state == "idle"


def chimes(setup: FallbackSetup) -> int:
    """How often the satellite was asked to play the error tone."""
    return sum(getattr(c, "kind", None) == "chime" for c in setup.satellite.commands)


@pytest.mark.parametrize(
    "refusal",
    [
        TurnRefused("error: invalid_configuration"),  # a bad setting: no other brain mends it
        TurnRefused("error: voice_unavailable"),
    ],
    ids=["configuration", "voice"],
)
async def test_a_refusal_without_a_cause_switches_nothing(
    setup: FallbackSetup, refusal: TurnRefused
) -> None:
    setup.primary.down = refusal
    await setup.command()
    await setup.until(lambda: setup.engine.state == "idle")
    (ended,) = setup.ended()
    assert ended["reason"] == refusal.reason
    assert not setup.pipeline.turns
    assert setup.fallback.active is setup.primary
    assert setup.statuses == []
    assert chimes(setup) == 1


async def test_an_error_mid_answer_switches_nothing(setup: FallbackSetup) -> None:
    """The model fails its answer, or the connection drops while it answers: the engine ends the
    conversation as without a fallback; the next turn goes to the primary again."""
    primary = setup.primary
    await setup.command()
    await setup.until(lambda: bool(primary.heard))
    await primary.emit(b.SpeechStopped())
    await primary.emit(b.AnswerStarted("resp_1"))
    await primary.emit(b.AnswerDone("resp_1", "failed"))
    await setup.until(lambda: setup.engine.state == "idle")
    assert setup.ended()[-1]["reason"] == "error: response_failed"
    await setup.command()
    await setup.until(lambda: len(primary.turns) == 2)
    await primary.emit(b.ConnectionLost())  # dropped while the user spoke
    await setup.until(lambda: setup.engine.state == "idle")
    assert setup.ended()[-1]["reason"] == "connection_lost"
    assert not setup.pipeline.turns
    assert setup.fallback.active is primary


async def test_while_down_turns_go_straight_to_the_fallback_and_back_on_recovery(
    setup: FallbackSetup,
) -> None:
    primary, pipeline = setup.primary, setup.pipeline
    primary.down = refused("network")
    await setup.command()
    await setup.answered_by(pipeline, "pipe_1")
    primary.probes = 0
    await setup.command()
    await setup.answered_by(pipeline, "pipe_2")
    assert len(primary.turns) == 1, "the second turn did not try the primary"
    assert len(pipeline.turns) == 2
    # the probe runs in the background, not on the user's turn
    await setup.until(lambda: primary.probes >= 1)
    primary.down = None
    await setup.until(lambda: setup.fallback.active is primary, within=3.0)
    assert setup.fallback.status == FallbackStatus(
        "primary", None, None, switches=1, last_cause="network"
    )
    await setup.command()
    await setup.answered_by(primary, "resp_3")
    assert len(pipeline.turns) == 2
    assert [s.active for s in setup.statuses] == ["fallback", "primary"]


async def test_the_cause_follows_what_the_probe_finds(setup: FallbackSetup) -> None:
    setup.primary.down = refused("network")
    await setup.command()
    await setup.until(lambda: bool(setup.pipeline.turns))
    setup.primary.down = refused("insufficient_quota")  # the network is back; the credit is not
    await setup.until(lambda: setup.fallback.status.cause == "insufficient_quota", within=3.0)
    assert setup.fallback.status.active == "fallback"
    assert setup.fallback.status.switches == 1


async def test_recovery_backs_off_and_does_not_flap() -> None:
    """The primary comes back and fails again at once, over and over: each relapse waits longer
    before the primary is tried again (the backoff goes on), and nothing switches in between."""
    s = FallbackSetup(probe_initial_s=0.1, probe_max_s=10.0)
    loop = asyncio.get_running_loop()
    try:
        recoveries: list[float] = []
        for _ in range(4):
            s.primary.down = refused("server_error")
            await s.command()
            await s.until(lambda: s.engine.state == "listening" and bool(s.pipeline.heard))
            failed_at = loop.time()
            await s.engine.stop_conversation()
            await s.until(lambda: s.engine.state == "idle")
            s.pipeline.heard.clear()
            s.primary.down = None  # back at once: only the probe's delay keeps it on the fallback
            await s.until(lambda: s.fallback.active is s.primary, within=5.0)
            recoveries.append(loop.time() - failed_at)
        # nominal delays 0.1, 0.2, 0.4, 0.8 (each between half and all of it)
        assert recoveries[-1] > 0.4 > recoveries[0], recoveries
        assert recoveries == sorted(recoveries), recoveries
        assert s.fallback.status.switches == 4
        assert len(s.statuses) == 8  # one switch and one recovery each: no flapping in between
    finally:
        await s.fallback.stop()
        await s.close()


async def test_the_backoff_starts_over_once_the_primary_stayed_up() -> None:
    s = FallbackSetup(probe_initial_s=0.1, probe_max_s=10.0, stable_s=0.0)
    loop = asyncio.get_running_loop()
    try:
        recoveries: list[float] = []
        for _ in range(3):
            s.primary.down = refused("network")
            await s.command()
            await s.until(lambda: bool(s.pipeline.heard))
            failed_at = loop.time()
            await s.engine.stop_conversation()
            await s.until(lambda: s.engine.state == "idle")
            s.pipeline.heard.clear()
            s.primary.down = None
            await s.until(lambda: s.fallback.active is s.primary, within=5.0)
            recoveries.append(loop.time() - failed_at)
        assert max(recoveries) < 0.2, recoveries  # every time the first delay (0.05..0.1 s)
    finally:
        await s.fallback.stop()
        await s.close()


async def test_events_of_the_inactive_brain_do_not_reach_the_engine(setup: FallbackSetup) -> None:
    primary, pipeline, engine = setup.primary, setup.pipeline, setup.engine
    primary.down = refused("network")
    await setup.command()
    await setup.until(lambda: bool(pipeline.heard))
    # the Realtime session gives up and reconnects while the pipeline has the turn
    await primary.emit(b.ConnectionLost())
    await primary.emit(b.BrainClosed())
    await primary.emit(b.SpeechStopped())
    await primary.emit(b.AnswerStarted("resp_x"))
    await primary.emit(b.AnswerAudio("resp_x", FRAME))
    await primary.emit(b.AnswerDone("resp_x", "done"))
    assert engine.state == "listening"
    assert setup.ended() == []
    assert "resp_x" not in setup.satellite.played
    await setup.answered_by(pipeline, "pipe_1")
    assert setup.ended()[0]["reason"] == "done"
    # between turns too (the fallback is the active brain)
    changes: list[None] = []
    engine.add_state_listener(lambda: changes.append(None))
    await primary.emit(b.Changed())
    assert changes == []
    await pipeline.emit(b.Changed())
    assert changes == [None]


async def test_events_of_the_fallback_are_dropped_once_the_primary_is_back(
    setup: FallbackSetup,
) -> None:
    setup.primary.down = refused("network")
    await setup.command()
    await setup.answered_by(setup.pipeline, "pipe_1")
    setup.primary.down = None
    await setup.until(lambda: setup.fallback.active is setup.primary, within=3.0)
    await setup.command()
    await setup.until(lambda: bool(setup.primary.heard))
    await setup.pipeline.emit(b.ConnectionLost())
    assert setup.engine.state == "listening"
    await setup.answered_by(setup.primary, "resp_2")


async def test_a_primary_that_does_not_take_the_audio_in_time_loses_the_turn() -> None:
    """A network that drops packets: the primary neither refuses nor gets ready. The fallback takes
    the utterance before the engine's no-speech watchdog would end it."""
    s = FallbackSetup(primary_ready_s=0.2)
    try:
        s.primary.ready.clear()  # its session never opens
        await s.command(frames=4)
        await s.until(lambda: len(s.pipeline.heard) == 4 * len(FRAME), within=1.0)
        assert s.fallback.status.cause == "network"
        s.primary.ready.set()  # late: it must not take the audio any more
        await asyncio.sleep(0.05)
        assert not s.primary.heard
        assert ("end_turn", (False, False)) in s.primary.calls
        await s.answered_by(s.pipeline, "pipe_1")
    finally:
        await s.fallback.stop()
        await s.close()


async def test_a_conversation_ended_while_the_primary_refused_is_not_started_again() -> None:
    s = FallbackSetup()
    try:
        release = asyncio.Event()
        original = s.primary.start_turn

        async def slow_refusal(turn: Turn, take_audio: Callable[[], bytes]) -> None:
            await release.wait()
            s.primary.down = refused("network")
            await original(turn, take_audio)

        s.primary.start_turn = slow_refusal  # type: ignore[method-assign]
        await s.command()
        await s.engine.stop_conversation()
        release.set()
        await s.until(lambda: s.fallback.status.active == "fallback")
        await asyncio.sleep(0.05)
        assert s.pipeline.turns == []
    finally:
        await s.fallback.stop()
        await s.close()


async def test_announcements_are_spoken_by_the_active_brain(setup: FallbackSetup) -> None:
    fallback = setup.fallback
    assert [pcm async for pcm in fallback.speak("Hi")] == [b"primary" + FRAME]
    setup.primary.speak_error = SpeakError("cannot connect")  # before any audio: the fallback
    assert [pcm async for pcm in fallback.speak("Hi")] == [b"pipeline" + FRAME]
    setup.primary.speak_error = None
    setup.primary.down = refused("network")
    await setup.command()
    await setup.until(lambda: fallback.status.active == "fallback")
    assert [pcm async for pcm in fallback.speak("Hi")] == [b"pipeline" + FRAME]


async def test_what_the_primary_leaves_by_nature_goes_to_the_fallback_unswitched() -> None:
    """GPT-Live alone (no Realtime brain beside it): ask_question's turns and announcements are
    the pipeline's, and that is no failure: nothing switches, nothing is probed."""
    primary, pipeline = Primary(), Pipeline()
    statuses: list[FallbackStatus] = []
    fallback = FallbackBrain(
        primary,
        pipeline,
        probe=primary.probe,
        on_status=statuses.append,
        primary_takes=lambda turn: not turn.question,
        primary_speaks=False,
        probe_initial_s=PROBE_S,
    )
    fallback.attach(lambda event: asyncio.sleep(0))
    await fallback.start_turn(Turn("question", question=True), lambda: b"yes")
    assert [t.conversation_id for t in pipeline.turns] == ["question"]
    assert primary.turns == []
    assert bytes(pipeline.heard) == b"yes"
    await fallback.end_turn(answering=False, listening=True)
    assert ("end_turn", (False, True)) in pipeline.calls
    assert [pcm async for pcm in fallback.speak("Hi")] == [b"pipeline" + FRAME]

    await fallback.start_turn(Turn("command"), lambda: b"on")
    assert [t.conversation_id for t in primary.turns] == ["command"]
    assert bytes(primary.heard) == b"on"
    await fallback.end_turn(answering=False, listening=True)
    await asyncio.sleep(PROBE_S * 2)
    assert statuses == []
    assert fallback.status.active == "primary"
    assert primary.probes == 0
    await fallback.stop()


async def test_abilities_are_those_of_the_brain_of_the_turn(setup: FallbackSetup) -> None:
    setup.pipeline.abilities = b.BrainAbilities(cancel=False, truncate=False)
    assert setup.fallback.abilities.cancel
    setup.primary.down = refused("network")
    await setup.command()
    await setup.until(lambda: bool(setup.pipeline.heard))
    assert not setup.fallback.abilities.cancel


# --- which Realtime errors are causes -------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (RealtimeConnectionError("Cannot connect: ConnectionRefusedError"), "network"),
        (RealtimeConnectionError("Cannot connect: gaierror", dns=True), "dns"),
        (RealtimeConnectionError("answered HTTP 503", status=503), "server_error"),
        (RealtimeConnectionError("answered HTTP 429", status=429), "rate_limited"),
        (AuthenticationError("refused the key"), "invalid_api_key"),
        (ModelUnavailableError("no such model"), "model_not_found"),
        (ProtocolError("quota", code="insufficient_quota"), "insufficient_quota"),
        (ProtocolError("boom", code="server_error"), "server_error"),
        (ConfigurationError("bad"), None),
        (VoiceUnavailableError("no voice"), None),
        (InterfaceUnsupportedError("beta", code="beta_disabled"), None),
        (ProtocolError("4000", code="closed_4000"), None),
        (RealtimeError("The session is closed", code="closed"), None),
    ],
)
def test_unavailable_cause(error: RealtimeError, cause: str | None) -> None:
    assert unavailable_cause(error) == cause


@pytest.mark.parametrize(
    ("kind", "code", "cause"),
    [
        ("insufficient_quota", "insufficient_quota", "insufficient_quota"),
        ("invalid_request_error", "invalid_api_key", "invalid_api_key"),
        ("invalid_request_error", "model_not_found", "model_not_found"),
        ("server_error", None, "server_error"),
        ("invalid_request_error", "unknown_parameter", None),
    ],
)
def test_the_endpoints_error_events_are_classified(
    kind: str, code: str | None, cause: str | None
) -> None:
    error = ServerError(type=kind, code=code, message="m", param=None, event_id=None)
    typed = error_from_server(error, model="gpt-realtime", voice="alloy", interface="ga")
    assert unavailable_cause(typed) == cause


async def test_a_dns_failure_is_told_from_a_refused_connection() -> None:
    from realtime_voice_core.realtime import SessionDescription, open_session
    from realtime_voice_core.realtime.settings import RealtimeSettings

    settings = RealtimeSettings(
        api_key="sk-test", url="ws://no-such-host.invalid/v1/realtime", connect_timeout=5.0
    )
    with pytest.raises(RealtimeConnectionError) as caught:
        await open_session(settings, SessionDescription())
    assert unavailable_cause(caught.value) == "dns"
