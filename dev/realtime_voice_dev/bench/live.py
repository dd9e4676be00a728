"""Full-duplex figures (GPT-Live, #27) for ``realtime-voice bench``: how often the model would stop
its own answer because it hears the satellite's echo, with echo cancellation beside without.

In full duplex (link protocol 4) the satellite streams its microphone while it speaks: what its DSP
chain sends to HA (``stream_24k``), echo-cancelled when the canceller is on. GPT-Live stops its
answer when it hears speech over its own voice. The rule applied here is the Live stand-in's
(``tests/live_standin``, ``LiveStandinConfig``): ``BARGE_IN_MS`` of 20 ms blocks at an RMS of at
least ``BARGE_IN_RMS`` (full scale 1.0) while it speaks. The satellite's own answers play in a
room, as in echo.py's false self-interruptions (:func:`.echo.self_interruptions`: varied texts,
voices and speeds, sessions of ``SESSION_S`` alternating the default room and a hall, a fresh
canceller per session), nobody else speaks: every interruption is a self-interruption. Two
figures: the answers alone, and with HA's music under every answer (the media layer, ducked by the
voice, as the mixer does; loud beats and a snare). An interrupted answer stops there, as the
model's does; each figure is per hour of answer played. Baseline: the same with the canceller off
(the DSP chain otherwise the same). The stand-in's rule is plain loudness, not speech: whatever of
the music the canceller leaves above it counts, as a TV in the room would.

Two behaviours of the satellite's own voice barge-in in full duplex, each on its own run of the
same answers: ``stop`` (it stops the answer at once: an interruption) and ``duck`` (states.py's
``DUCK``: the answer ducked by the mixer and the stream whole until ``UNDUCK_S`` after the last
voice; a duck is not an interruption, only the model's rule firing is; ducks are counted apart).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import numpy as np

from realtime_voice_satellite.agent.agent import UNDUCK_S
from realtime_voice_satellite.agent.echo_gate import EchoGate
from realtime_voice_satellite.agent.room import default_room

from . import Figure
from . import echo as room_bench

# the Live stand-in's defaults (tests/live_standin/server.py, LiveStandinConfig)
BARGE_IN_RMS = 0.02
BARGE_IN_MS = 200
BLOCK_MS = 20
# the echo-off baseline interrupts nearly every answer at once: a few minutes say enough
BASELINE_S = 120.0
USER_TRIES = room_bench.INTERRUPTIONS  # users talking over the answer
UNDUCK_BLOCKS = round(UNDUCK_S * 1000 / BLOCK_MS)


class LiveListener:
    """The model's interruption rule on the satellite's stream, in 20 ms blocks (the chain's
    resampler hands the stream out in uneven pieces)."""

    BLOCK_BYTES = 24_000 * 2 * BLOCK_MS // 1000

    def __init__(self) -> None:
        self.over_ms = 0
        self._pending = b""

    def hears_speech_over_itself(self, pcm: bytes) -> bool:
        """Whether ``pcm`` (with what came before) completes ``BARGE_IN_MS`` over the threshold."""
        self._pending += pcm
        heard = False
        while len(self._pending) >= self.BLOCK_BYTES:
            block, self._pending = (
                self._pending[: self.BLOCK_BYTES],
                self._pending[self.BLOCK_BYTES :],
            )
            samples = np.frombuffer(block, "<i2").astype(np.float64) / 32768
            rms = float(np.sqrt(np.mean(samples**2)))
            self.over_ms = self.over_ms + BLOCK_MS if rms >= BARGE_IN_RMS else 0
            if self.over_ms >= BARGE_IN_MS:
                self.over_ms = 0
                heard = True
        return heard


class _Duplex:
    """The satellite's full-duplex stream of one :class:`~.echo._Run`, block by block: what goes
    to HA through the echo gate, and the same block without it. With ``duck`` its voice barge-in
    ducks the answer (the agent's ``DUCK`` / ``UNDUCK``) instead of stopping it."""

    def __init__(self, run: room_bench._Run, *, duck: bool = False) -> None:
        self.run = run
        self.gate = EchoGate()
        self.duck = duck
        self.ducks = 0
        self._ducked_left = 0  # blocks the duck lasts without more voice

    def say(self, answer_24k: np.ndarray) -> None:
        self.run.say(answer_24k)
        self.gate.reset()
        self._ducked_left = 0
        self.run.mixer.voice_ducked = False

    @property
    def ducked(self) -> bool:
        return self._ducked_left > 0

    def step(self) -> tuple[bytes, bytes, bool]:
        """The next block: (the stream to HA, the stream ungated, the satellite's voice barge-in
        fired: with ``duck`` it ducked the answer, else it stopped it)."""
        run = self.run
        near, out = run.step()
        speaking = run.player.current is not None
        echo = run.chain.echo
        # without a canceller the agent has no voice barge-in (nor a gate)
        heard = speaking and echo is not None and run.heard(near, out)
        if heard and not self.duck:
            run.player.stop()  # the agent's INTERRUPT; the block goes whole (SEND)
            return run.stream, run.stream, True
        if not speaking or echo is None or run.far is None:
            self._unduck()
            return run.stream, run.stream, False
        gated = self.gate(run.stream, run.voice.echo_only, ready=echo.converged and echo.steady)
        if heard:
            self.ducks += not self.ducked
            self._ducked_left = UNDUCK_BLOCKS
            run.mixer.voice_ducked = True
        elif self.ducked:
            self._ducked_left -= 1
            if not self.ducked:
                self._unduck()
                return gated, run.stream, False  # DUCK_OVER: this block gated
        if self.ducked:
            return run.stream, run.stream, heard  # the echo gate open
        return gated, run.stream, False

    def _unduck(self) -> None:
        self._ducked_left = 0
        self.run.mixer.voice_ducked = False


def self_interruptions(
    directory: Path,
    loop: asyncio.AbstractEventLoop,
    seconds: float,
    *,
    cancel: bool,
    music: bool = False,
    duck: bool = False,
) -> tuple[int, int, int, float, int]:
    """(interruptions on the gated stream, of them by the satellite's own voice barge-in,
    answers the ungated stream would have stopped, seconds of answer played, ducks): the
    satellite's own answers, one after the other with a second between (with ``music`` under
    them), streamed as in full duplex to the model's rule. Without ``cancel`` nothing is gated.
    With ``duck`` the voice barge-in ducks the answer: not an interruption, counted apart."""
    answers = room_bench._own_speech(directory)
    interruptions = local = ungated = ducks = 0
    played = 0.0
    session = 0
    while played < seconds:
        room = (
            default_room(room_bench.RATE)
            if session % 2 == 0
            else room_bench.hall_room(room_bench.RATE)
        )
        tune = (
            room_bench.music(room_bench.SESSION_S + 60, room_bench.OUT_RATE, seed=session)
            if music
            else None
        )
        duplex = _Duplex(
            room_bench._Run(cancel=cancel, room=room, music_24k=tune, loop=loop), duck=duck
        )
        session_played = 0.0
        while session_played < room_bench.SESSION_S and played + session_played < seconds:
            _, answer = next(answers)
            duplex.say(answer)
            listener, old = LiveListener(), LiveListener()
            old_heard = False
            blocks = 0
            for _ in range(len(answer) // room_bench.OUT_BLOCK + 2):
                gated, whole, stopped = duplex.step()
                blocks += 1
                if not old_heard and old.hears_speech_over_itself(whole):
                    old_heard = True
                    ungated += 1
                stopped = stopped and not duck
                if stopped or listener.hears_speech_over_itself(gated):
                    interruptions += 1
                    local += stopped
                    break  # the model (or the satellite) stops talking: the rest is not played
            duplex.run.player.stop()
            for _ in range(50):  # a second between answers
                duplex.run.step()
            session_played += blocks * room_bench.BLOCK / room_bench.RATE
        played += session_played
        session += 1
        ducks += duplex.ducks
    return interruptions, local, ungated, played, ducks


def users_get_through(
    answers: list[np.ndarray],
    users: list[np.ndarray],
    loop: asyncio.AbstractEventLoop,
    *,
    tries: int = room_bench.INTERRUPTIONS,
    duck: bool = False,
) -> tuple[list[float | None], list[float | None], list[float | None], int, int]:
    """Per try, ms from the user's first sound to the model's rule (None: not within the model's
    answer), on the stream sent and on the same ungated; per try, ms to the satellite's own
    voice barge-in (its stop, or with ``duck`` its duck); how many times the rule (or the local
    stop) fired before the user spoke (self-interruptions), and how many ducks came before the
    user spoke. echo.py's barge-in set-up: one answer before (the canceller has heard the
    room), the user 3 s or more into the next, at 0.5/0.7/1.0 of full level."""
    rng = np.random.default_rng(16)
    gated_ms: list[float | None] = []
    whole_ms: list[float | None] = []
    local_ms: list[float | None] = []
    early = early_ducks = 0
    rate = room_bench.RATE
    for k in range(tries):
        before = answers[(k + 1) % len(answers)]
        answer = answers[k % len(answers)]
        user = (users[k % len(users)] * (0.5, 0.7, 1.0)[k % 3]).astype(np.int16)
        length = len(answer) * rate // room_bench.OUT_RATE
        onset = int(rng.uniform(3.0, max(3.5, length / rate - 3.0)) * rate)
        warm_blocks = len(before) // room_bench.OUT_BLOCK + 50
        onset += warm_blocks * room_bench.BLOCK
        spoken = onset + int(np.argmax(np.abs(user) > 500))
        talker = np.concatenate([np.zeros(onset, np.int16), user])
        duplex = _Duplex(room_bench._Run(cancel=True, user_16k=talker, loop=loop), duck=duck)
        duplex.say(before)
        local: float | None = None
        # the model's answer lasts as long as it has audio for, whether the satellite plays it
        # to the end or not: its rule listens until then
        ends = warm_blocks + length // room_bench.BLOCK
        listeners = [LiveListener(), LiveListener()]
        heard: list[float | None] = [None, None]
        for i in range(max(ends, len(talker) // room_bench.BLOCK)):
            if i == warm_blocks:
                duplex.say(answer)
                listeners = [LiveListener(), LiveListener()]
            ducks = duplex.ducks
            *streams, stopped = duplex.step()
            if i < warm_blocks or i >= ends:
                continue
            if stopped and (i + 1) * room_bench.BLOCK <= onset:
                # the satellite's own barge-in on its echo
                if duck:
                    early_ducks += duplex.ducks > ducks
                else:
                    early += 1
            elif stopped and local is None:
                local = ((i + 1) * room_bench.BLOCK - spoken) * 1000 / rate
            for j, (listener, pcm) in enumerate(zip(listeners, streams, strict=True)):
                if heard[j] is None and listener.hears_speech_over_itself(pcm):
                    at = (i + 1) * room_bench.BLOCK
                    if at <= onset:
                        early += j == 0
                        listeners[j] = LiveListener()
                        continue
                    heard[j] = (at - spoken) * 1000 / rate
        gated_ms.append(heard[0])
        whole_ms.append(heard[1])
        local_ms.append(local)
    return gated_ms, whole_ms, local_ms, early, early_ducks


def collect() -> list[Figure]:
    if shutil.which("espeak-ng") is None:
        return []
    loop = asyncio.new_event_loop()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return _collect(Path(tmp), loop)
    finally:
        loop.close()


def _share(latencies: list[float | None]) -> tuple[float, str]:
    got = sorted(ms for ms in latencies if ms is not None)
    share = len(got) / len(latencies) * 100
    if not got:
        return share, "none"
    return share, f"p50 {np.percentile(got, 50):.0f} / p95 {np.percentile(got, 95):.0f} ms"


def _collect(directory: Path, loop: asyncio.AbstractEventLoop) -> list[Figure]:
    seconds = room_bench.SELF_SPEECH_S
    figures = []
    for music, what in ((False, "answers alone"), (True, "music under the answers")):
        count, local, ungated, played, _ = self_interruptions(
            directory, loop, seconds, cancel=True, music=music
        )
        count_off, _, _, played_off, _ = self_interruptions(
            directory, loop, min(seconds, BASELINE_S), cancel=False, music=music
        )
        figures.append(
            Figure(
                f"live: self-interruptions per hour of own speech, full duplex, {what}, echo "
                f"cancellation on, echo gate, the voice stops the answer ({count} in "
                f"{played:.0f} s, {local} of them the satellite's own barge-in; baseline: the "
                f"same run ungated, {ungated}; echo cancellation off: {count_off} in "
                f"{played_off:.0f} s = {count_off * 3600 / played_off:.0f} /h)",
                count * 3600 / played,
                "/h",
                "0",
                ungated * 3600 / played,
            )
        )
        count, _, ungated, played, ducks = self_interruptions(
            directory, loop, seconds, cancel=True, music=music, duck=True
        )
        figures.append(
            Figure(
                f"live: self-interruptions per hour of own speech, full duplex, {what}, echo "
                f"gate, the voice ducks the answer ({count} in {played:.0f} s; {ducks} ducks "
                f"= {ducks * 3600 / played:.1f} /h, none an interruption; baseline: the same "
                f"run ungated, {ungated})",
                count * 3600 / played,
                "/h",
                "0",
                ungated * 3600 / played,
            )
        )
    answers = [
        room_bench._say(text, voice, directory, room_bench.OUT_RATE)
        for voice, text in room_bench.ANSWERS
    ]
    users = [
        room_bench._say(text, voice, directory, room_bench.RATE) for voice, text in room_bench.USERS
    ]
    for duck, how in ((False, "the voice stops the answer"), (True, "the voice ducks it")):
        gated, whole, reaction, early, early_ducks = users_get_through(
            answers, users, loop, tries=USER_TRIES, duck=duck
        )
        share, times = _share(gated)
        share_whole, times_whole = _share(whole)
        share_local, times_local = _share(reaction)
        figures.append(
            Figure(
                f"live: the user over the answer reaches the model's rule, echo gate, {how} "
                f"({times}; the satellite's own voice barge-in: {share_local:.0f} %, "
                f"{times_local}; the same run ungated: {share_whole:.0f} %, {times_whole}; "
                f"{early} self-interruptions and {early_ducks} ducks before the user spoke)",
                share,
                "%",
                ">= the voice stopping it",
                share_whole,
            )
        )
    return figures
