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
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

import numpy as np

from realtime_voice_satellite.agent.room import default_room

from . import Figure
from . import echo as room_bench

# the Live stand-in's defaults (tests/live_standin/server.py, LiveStandinConfig)
BARGE_IN_RMS = 0.02
BARGE_IN_MS = 200
BLOCK_MS = 20
# the echo-off baseline interrupts nearly every answer at once: a few minutes say enough
BASELINE_S = 120.0


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


def self_interruptions(
    directory: Path,
    loop: asyncio.AbstractEventLoop,
    seconds: float,
    *,
    cancel: bool,
    music: bool = False,
) -> tuple[int, float]:
    """(interruptions, seconds of answer played): the satellite's own answers, one after the
    other with a second between (with ``music`` under them), streamed as in full duplex to the
    model's rule."""
    answers = room_bench._own_speech(directory)
    interruptions = 0
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
        run = room_bench._Run(cancel=cancel, room=room, music_24k=tune, loop=loop)
        session_played = 0.0
        while session_played < room_bench.SESSION_S and played + session_played < seconds:
            _, answer = next(answers)
            run.say(answer)
            listener = LiveListener()
            blocks = 0
            for _ in range(len(answer) // room_bench.OUT_BLOCK + 2):
                run.step()
                blocks += 1
                if listener.hears_speech_over_itself(run.stream):
                    interruptions += 1
                    break  # the model stops talking: the rest of the answer is not played
            run.player.stop()
            for _ in range(50):  # a second between answers
                run.step()
            session_played += blocks * room_bench.BLOCK / room_bench.RATE
        played += session_played
        session += 1
    return interruptions, played


def collect() -> list[Figure]:
    if shutil.which("espeak-ng") is None:
        return []
    loop = asyncio.new_event_loop()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            return _collect(Path(tmp), loop)
    finally:
        loop.close()


def _collect(directory: Path, loop: asyncio.AbstractEventLoop) -> list[Figure]:
    seconds = room_bench.SELF_SPEECH_S
    figures = []
    for music, what in ((False, "answers alone"), (True, "music under the answers")):
        count, played = self_interruptions(directory, loop, seconds, cancel=True, music=music)
        count_off, played_off = self_interruptions(
            directory, loop, min(seconds, BASELINE_S), cancel=False, music=music
        )
        figures.append(
            Figure(
                f"live: self-interruptions per hour of own speech, full duplex, {what}, echo "
                f"cancellation on ({count} in {played:.0f} s; baseline: off, {count_off} in "
                f"{played_off:.0f} s)",
                count * 3600 / played,
                "/h",
                "0",
                count_off * 3600 / played_off,
            )
        )
    return figures
