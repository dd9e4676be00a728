"""Echo-cancellation figures for ``realtime-voice bench`` (#16), each beside the same run without
echo cancellation.

The satellite's own pieces, stepped in 20 ms blocks as the agent runs them (faster than real
time): the answer plays through a real :class:`Player` (and music through the :class:`Mixer`'s
media layer) and a :class:`PlaybackTap` at 24 kHz as the output takes it; a room (file mode's
default room, :mod:`.room`, or a larger hall) hears it 100 ms later (a device's output buffer)
through its impulse response and adds it to the user's speech; the DSP chain cancels it with the
tap's reference and the voice detector (:mod:`.voice`) watches the result, as the agent does.
Speech is espeak-ng's (answers and interruptions in several voices).

- ERLE: echo removed after 2 s of convergence, over the blocks that hold echo.
- double talk: how much of the user's speech the canceller removes while the answer plays.
- barge-in: interruptions detected within the speech, and the latency from the speech's onset
  to silence at the speaker: the player is stopped on the detection, and the latency ends where
  the sound the room hears (the output's 100 ms buffer included) really stops.
- false self-interruptions: the satellite's own answers without a user (varied texts, voices
  and speeds, two rooms, with and without music under them), one canceller per session as the
  agent keeps one, per hour of answer; ``--self-speech-s 3600`` measures a whole hour.
- wake word over music: "hey jarvis" said over loud music in the default room, detected with the
  music cancelled (the media layer is the canceller's reference, as in the agent) against
  without.
- stop and wake words over the answer: "alexa" and "hey jarvis" said over the second answer in
  a row, heard in what the agent's words hear (the linear canceller's residual once converged)
  against AEC3's output.
- CPU per audio second of the capture path, while speaking and idle (nothing played), the runs
  with and without cancellation interleaved.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soxr

from realtime_voice_satellite.agent.mixer import Mixer
from realtime_voice_satellite.agent.played import PlaybackTap
from realtime_voice_satellite.agent.player import Player
from realtime_voice_satellite.agent.room import Convolver, default_room
from realtime_voice_satellite.agent.voice import VoiceBargeIn
from realtime_voice_satellite.audio import DspChain, read_wav

from . import Figure
from .linear_echo import LinearEchoCanceller

RATE = 16_000  # the microphone's
OUT_RATE = 24_000
BLOCK = 320  # 20 ms at 16 kHz
OUT_BLOCK = 480
ROOM_LATENCY_S = 0.1  # the output device's buffer, as file mode's room has it
ANSWERS = (
    (
        "en-us",
        "Sure. The lights in the kitchen are on now, and the heating is set to twenty one "
        "degrees. Is there anything else I can do for you this evening?",
    ),
    (
        "en-gb",
        "The forecast for tomorrow says sunny spells in the morning, with a chance of "
        "showers later in the afternoon. Temperatures will reach about eighteen degrees.",
    ),
    (
        "en-us+f3",
        "Your next meeting is at three o'clock with the design team. After that you "
        "have a call with your sister, and the shop closes at six.",
    ),
)
# more of the satellite's own speech, for the false self-interruptions
MORE_ANSWERS = (
    "I have added milk, eggs and two loaves of bread to your shopping list.",
    "The front door is locked, the garage door is closed, and the alarm is armed.",
    "Playing your evening playlist in the living room. Say stop when you have had enough.",
    "It is half past seven. Your timer for the pasta has four minutes left.",
    "Okay! I turned off all the lights downstairs except the one in the hallway.",
    "The washing machine finished twenty minutes ago. Do you want me to remind you later?",
    "Hey, that's a good question. The moon is about three hundred eighty thousand kilometres away.",
    "Stop signs are red and octagonal in most countries, though some use a different shape.",
    "Right now it is nineteen degrees inside and eleven outside, with a light wind from the west.",
    "Hmm, I could not find a device called the attic fan. Did you mean the bathroom fan?",
)
VOICES = ("en-us", "en-gb", "en-us+f3", "en-us+m4", "en-gb-x-rp+f2", "en-029")
USERS = (
    ("en-us+f2", "no wait, turn off the bedroom light instead"),
    ("en-gb-x-rp+m3", "hold on a second"),
    ("en-029", "stop, that is not what I asked"),
    ("en-us", "actually, what time is it in Tokyo"),
)
INTERRUPTIONS = 20
SELF_SPEECH_S = 300.0  # the default of --self-speech-s
SESSION_S = 75.0
FALSE_AT: list[
    tuple[int, str, int]
] = []  # (session, answer, block) of each false barge-in  # a fresh canceller (a satellite restart) every so many seconds of answers


def set_self_speech(self_speech_s: float) -> None:
    """``--self-speech-s``: how much of the satellite's own speech the bench plays."""
    global SELF_SPEECH_S  # noqa: PLW0603 (the bench's one option, set before collect)
    SELF_SPEECH_S = self_speech_s


def _say(text: str, voice: str, directory: Path, rate: int, speed: int = 175) -> np.ndarray:
    path = directory / f"{abs(hash((text, voice, speed)))}.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text],
        check=True,
        capture_output=True,
    )
    samples, source_rate = read_wav(path)
    return soxr.resample(samples, source_rate, rate).astype(np.int16)


def hall_room(rate: int, *, rt60_s: float = 0.5, tail_gain: float = 0.03) -> np.ndarray:
    """Another room than the default: the direct sound at 0.8 after 25 ms (the speaker close to
    the microphone), three early reflections and a 0.5 s reverberant tail about as loud as the
    direct sound in all (``tail_gain`` 0.06 and ``rt60_s`` 0.7, the tail 6.6 dB louder than the
    direct sound, defeat the voice detector: docs/performance.md)."""
    rng = np.random.default_rng(7)
    n = round(0.9 * rate)
    ir = np.zeros(n)
    for delay_s, gain in ((0.025, 0.8), (0.031, -0.35), (0.043, 0.25), (0.058, -0.18)):
        ir[round(delay_s * rate)] = gain
    start = round(0.06 * rate)
    t = np.arange(n - start)
    ir[start:] += rng.standard_normal(n - start) * np.exp(-t * 6.9 / (rt60_s * rate)) * tail_gain
    return ir.astype(np.float32)


def music(seconds: float, rate: int, seed: int = 3) -> np.ndarray:
    """Something music-like at about -14 dBFS: chords of decaying harmonic notes on the beat, a
    bass line, and a noisy snare on the off-beat."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    beat = int(0.5 * rate)
    t = np.arange(beat) / rate
    envelope = np.exp(-t * 4)
    for start in range(0, n - beat, beat):
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        note = np.zeros(beat)
        for interval in (1.0, 1.26, 1.5, 2.0):
            for harmonic in (1, 2, 3):
                note += np.sin(2 * np.pi * root * interval * harmonic * t) / harmonic
        out[start : start + beat] += note * envelope * 1500
        if (start // beat) % 2:
            snare = rng.standard_normal(beat // 4) * np.exp(-np.arange(beat // 4) / (0.02 * rate))
            out[start : start + beat // 4] += snare * 3000
    return np.clip(out, -32768, 32767).astype(np.int16)


class _Run:
    """The satellite's output and capture path in a room, stepped block by block."""

    def __init__(
        self,
        *,
        cancel: bool,
        user_16k: np.ndarray | None = None,
        room: np.ndarray | None = None,
        music_24k: np.ndarray | None = None,
        music_reference: bool = False,
        linear: bool = False,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        # the voice detector hears a linear canceller's output instead of AEC3's (.linear_echo)
        self.linear = LinearEchoCanceller() if linear else None
        self.user = np.zeros(0, np.int16) if user_16k is None else user_16k
        self.music_reference = music_reference
        self.player = Player(OUT_RATE, prebuffer_ms=0, loop=loop)
        self.media = Player(OUT_RATE, prebuffer_ms=0, loop=loop)
        self.mixer = Mixer(self.player, self.media)
        if music_24k is not None:
            self.media.start("music", "media")
            self.media.feed(music_24k.astype("<i2").tobytes())
            self.media.end("music")
        tap = PlaybackTap(self.mixer.read, OUT_RATE)
        self._room_in = tap.reader(RATE, margin_s=ROOM_LATENCY_S)
        self._room = Convolver(default_room(RATE) if room is None else room)
        self._tap = tap
        self.chain = DspChain(
            RATE, echo_reference=tap.reader(RATE, counts=self.sounding) if cancel else None
        )
        self.voice = VoiceBargeIn()
        self.cpu = 0.0  # process time in the chain and the voice detector
        self.heard_played: list[np.ndarray] = []  # what the room heard the speaker play, per block
        self.i = 0  # the next block
        self.far: np.ndarray | None = None  # the reference beside the last block
        # the canceller's linear residual and echo estimates beside the last block
        self.linear_in: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        self.linear_out = np.zeros(0, np.int16)  # the linear canceller's, beside the last block
        self.stream = b""  # what the last block sends to HA (PCM16 24 kHz)

    def sounding(self) -> bool:
        """What counts as reference: as in the agent, while the voice plays (with the music
        under it); with ``music_reference``, the music alone too."""
        return self.player.current is not None or (
            self.music_reference and self.media.current is not None
        )

    def say(self, answer_24k: np.ndarray) -> None:
        self.player.start("answer", "response")
        self.player.feed(answer_24k.astype("<i2").tobytes())
        self.player.end("answer")
        self.voice.reset()

    def heard(self, near: np.ndarray, out: np.ndarray) -> bool:
        started = time.process_time()
        echo = self.chain.echo
        if echo is not None and self.far is None:
            heard = False  # the canceller is not running: the agent does not listen for voice
        else:
            if self.linear is not None:
                out = self.linear_out
            heard = self.voice(near, out, self.far, *self.linear_in) is not None and (
                echo is None or (echo.converged and echo.steady)
            )
        self.cpu += time.process_time() - started
        return heard

    def words_hear(self, cancelled: np.ndarray) -> np.ndarray:
        """What the agent's wake and stop words hear of the last block (``Hearing``): the
        linear canceller's residual once it has converged, else ``cancelled`` (AEC3's)."""
        linear = self.linear_in[0]
        echo = self.chain.echo
        if linear is not None and echo is not None and echo.linear_converged:
            return linear
        return cancelled

    def step(self) -> tuple[np.ndarray, np.ndarray]:
        """The next block: the 16 kHz microphone before and after the canceller."""
        i = self.i
        self.i += 1
        self._tap(OUT_BLOCK)
        played = self._room_in.read(BLOCK)
        self.heard_played.append(played)
        echo = self._room(played)
        user = self.user[i * BLOCK : (i + 1) * BLOCK].astype(np.float64)
        mic = echo.copy()
        mic[: len(user)] += user
        block = np.clip(np.rint(mic), -32768, 32767).astype(np.int16)
        started = time.process_time()
        frame = self.chain.process(block)
        self.cpu += time.process_time() - started
        cancelled = frame.wake_16k
        self.stream = frame.stream_24k
        near = frame.echo_mic_16k if frame.echo_mic_16k is not None else cancelled
        self.far = frame.echo_far_16k if frame.echo_far_16k is not None else None
        self.linear_in = (frame.echo_linear_16k, frame.echo_estimates)
        if self.linear is not None and self.far is not None and frame.echo_mic_16k is not None:
            started = time.process_time()
            self.linear_out = self.linear(frame.echo_mic_16k, self.far)
            self.cpu += time.process_time() - started
        return near, cancelled


def _energy(x: np.ndarray) -> float:
    y = x.astype(np.float64)
    return float(y.dot(y))


def _db(a: float, b: float) -> float:
    return 10 * np.log10(max(a, 1e-9) / max(b, 1e-9))


def _erle(answers: list[np.ndarray], loop: asyncio.AbstractEventLoop, *, cancel: bool) -> float:
    """ERLE dB after 2 s, each answer with a fresh canceller."""
    mic_e = out_e = 0.0
    for answer in answers:
        run = _Run(cancel=cancel, loop=loop)
        run.say(answer)
        for i in range(len(answer) // OUT_BLOCK + 25):
            near, out = run.step()
            if i * BLOCK >= 2 * RATE and _energy(near) > 1e3 * len(near):
                mic_e += _energy(near)
                out_e += _energy(out)
    return _db(mic_e, out_e)


def _double_talk_loss(
    answer: np.ndarray,
    user: np.ndarray,
    onset: int,
    loop: asyncio.AbstractEventLoop,
    *,
    cancel: bool,
) -> float:
    """dB of the user's speech lost: (with user) - (without user), against the user alone."""
    outs: list[list[np.ndarray]] = [[], []]
    padded = np.concatenate([np.zeros(onset, np.int16), user])
    for k, talker in enumerate((padded, np.zeros(0, np.int16))):
        run = _Run(cancel=cancel, user_16k=talker, loop=loop)
        run.say(answer)
        for _ in range(len(padded) // BLOCK):
            outs[k].append(run.step()[1].astype(np.float64))
    both = np.concatenate(outs[0])
    echo_only = np.concatenate(outs[1])
    n = min(len(both), len(echo_only), len(padded))
    kept = both[:n] - echo_only[:n]
    reference = padded[:n].astype(np.float64)
    segment = slice(onset, n)
    return _db(_energy(reference[segment]), _energy(kept[segment]))


def _silence_at_speaker(run: _Run) -> int:
    """After a stop: step until the room has heard 0.3 s of silence from the speaker; the
    sample (in the microphone's count) where its sound really ended."""
    quiet = 0
    while quiet < 15:
        run.step()
        quiet = quiet + 1 if not run.heard_played[-1].any() else 0
    played = np.concatenate(run.heard_played)
    sounding = np.flatnonzero(played)
    return int(sounding[-1]) + 1 if len(sounding) else 0


def barge_ins(
    answers: list[np.ndarray],
    users: list[np.ndarray],
    loop: asyncio.AbstractEventLoop,
    *,
    cancel: bool,
    interruptions: int = INTERRUPTIONS,
    linear: bool = False,
    warm: int = 1,
) -> tuple[float, list[float]]:
    """(share detected within the speech, latencies in ms from onset to silence at the
    speaker). The satellite has said one answer before (its canceller and detector have heard
    the room; the first answer after a start is another matter: docs/satellite.md); each
    interruption comes 3 s or more into the next answer."""
    rng = np.random.default_rng(16)
    detected = 0
    latencies: list[float] = []
    for k in range(interruptions):
        # ``warm`` answers said before, one after the other (the canceller's history)
        before = np.concatenate([answers[(k + 1 + j) % len(answers)] for j in range(warm)])
        answer = answers[k % len(answers)]
        user = (users[k % len(users)] * (0.5, 0.7, 1.0)[k % 3]).astype(np.int16)
        length = len(answer) * RATE // OUT_RATE
        onset = int(rng.uniform(3.0, max(3.5, length / RATE - 3.0)) * RATE)
        warm_blocks = len(before) // OUT_BLOCK + 50  # the answer before, and a second
        onset += warm_blocks * BLOCK
        spoken = onset + int(np.argmax(np.abs(user) > 500))
        talker = np.concatenate([np.zeros(onset, np.int16), user])
        run = _Run(cancel=cancel, user_16k=talker, linear=linear, loop=loop)
        run.say(before)
        for i in range(len(talker) // BLOCK):
            if i == warm_blocks:
                run.say(answer)
            near, out = run.step()
            # the detector hears every block, as in the agent; a decision before the onset is
            # not the user's
            if run.heard(near, out) and (i + 1) * BLOCK > onset:
                run.player.stop()  # as the agent's barge-in does
                detected += 1
                latencies.append((_silence_at_speaker(run) - spoken) * 1000 / RATE)
                break
    return detected / interruptions * 100, latencies


def _own_speech(directory: Path) -> Iterator[tuple[str, np.ndarray]]:
    """The satellite's answers, varied (texts, voices, speeds), for ever: (name, 24 kHz)."""
    texts = [text for _, text in ANSWERS] + list(MORE_ANSWERS)
    k = 0
    while True:
        text = texts[k % len(texts)]
        voice = VOICES[(k // len(texts) + k) % len(VOICES)]
        speed = (150, 175, 200)[(k // 7) % 3]
        yield f"{voice}@{speed}", _say(text, voice, directory, OUT_RATE, speed)
        k += 1


def self_interruptions(
    directory: Path,
    loop: asyncio.AbstractEventLoop,
    seconds: float,
    *,
    cancel: bool,
    linear: bool = False,
) -> tuple[int, float, float]:
    """(false barge-ins, seconds of answer played, CPU s per audio s while speaking): the
    satellite's own answers one after the other with a second between, as sessions of
    ``SESSION_S`` (a fresh canceller each: its convergence is in every session), alternating the
    default room and the hall, every other session with music under the answers."""
    answers = _own_speech(directory)
    false = 0
    played = 0.0
    audio_s = 0.0
    cpu = 0.0
    session = 0
    while played < seconds:
        room = default_room(RATE) if session % 2 == 0 else hall_room(RATE)
        tune = music(SESSION_S + 60, OUT_RATE, seed=session) if session % 4 >= 2 else None
        run = _Run(cancel=cancel, room=room, music_24k=tune, linear=linear, loop=loop)
        session_played = 0.0
        while session_played < SESSION_S and played + session_played < seconds:
            name, answer = next(answers)
            run.say(answer)
            blocks = len(answer) // OUT_BLOCK + 2
            for _ in range(blocks):
                near, out = run.step()
                if run.heard(near, out):
                    false += 1
                    FALSE_AT.append((session, name, run.i))
            run.player.stop()
            for _ in range(50):  # a second between answers: the room's tail, no detector
                run.step()
            session_played += blocks * BLOCK / RATE
        played += session_played
        audio_s += run.i * BLOCK / RATE
        cpu += run.cpu
        session += 1
    return false, played, cpu / audio_s


def wake_over_music(
    directory: Path,
    loop: asyncio.AbstractEventLoop,
    *,
    cancel: bool,
    gain: float = 2.0,
    tries: int = 8,
    played_before_s: float = 0.0,
) -> float:
    """% of "hey jarvis" said over loud music (the media layer at ``gain`` of :func:`music`'s
    level, about -8 dBFS, in the default room, 4 to 16 s into it) that the wake word hears, with
    the music as the canceller's reference (what the agent's wake words hear: AEC3's output, the
    linear canceller's residual once that has converged) or without a canceller.
    ``played_before_s``: music the satellite played before (the canceller's history since
    start; the agent keeps one canceller)."""
    from realtime_voice_satellite.wakeword import WakeWordDetector

    voices = ("en-us", "en-gb", "en-us+f3", "en-029")
    words = [_say("hey jarvis", voice, directory, RATE) for voice in voices]
    tune = (music(30.0, OUT_RATE, seed=9).astype(np.float64) * gain).astype(np.int16)
    detector = WakeWordDetector(["hey_jarvis"])
    heard = 0
    for k in range(tries):
        onset = int((4.0 + 1.7 * k) * RATE)
        word = words[k % len(words)]
        user = np.concatenate([np.zeros(onset, np.int16), word, np.zeros(RATE, np.int16)])
        before = round(played_before_s * RATE)
        user = np.concatenate([np.zeros(before, np.int16), user])
        onset += before
        music_24k = np.tile(tune, 1 + round(played_before_s / 30.0))
        run = _Run(
            cancel=cancel, user_16k=user, music_24k=music_24k, music_reference=True, loop=loop
        )
        detector.reset()
        out = []
        for _ in range(len(user) // BLOCK):
            out.append(run.words_hear(run.step()[1]))
        detections = detector.process(np.concatenate(out))
        heard += any(d.t * RATE > onset for d in detections)
    detector.close()
    return heard / tries * 100


def words_over_answer(
    directory: Path,
    answers: list[np.ndarray],
    loop: asyncio.AbstractEventLoop,
    *,
    word: str,
    model: str,
    tries: int = 12,
) -> tuple[float, float]:
    """% of ``word`` said over the satellite's second answer in a row (a converged canceller; at
    0.5/0.7/1.0 of full level, four voices, 3 s or more in) that ``model`` hears: (in what the
    agent's wake and stop words hear, the linear residual once converged; in AEC3's output)."""
    from realtime_voice_satellite.wakeword import WakeWordDetector

    voices = ("en-us", "en-gb", "en-us+f3", "en-029")
    words = [_say(word, voice, directory, RATE) for voice in voices]
    detector = WakeWordDetector([model])
    heard = [0, 0]
    for k in range(tries):
        before, answer = answers[(k + 1) % len(answers)], answers[k % len(answers)]
        warm_blocks = len(before) // OUT_BLOCK + 50
        onset = warm_blocks * BLOCK + int((3.0 + 0.4 * k) * RATE)
        said = (words[k % len(words)] * (0.5, 0.7, 1.0)[k % 3]).astype(np.int16)
        user = np.concatenate([np.zeros(onset, np.int16), said, np.zeros(RATE, np.int16)])
        run = _Run(cancel=True, user_16k=user, loop=loop)
        run.say(before)
        outs: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
        for i in range(len(user) // BLOCK):
            if i == warm_blocks:
                run.say(answer)
            _, cancelled = run.step()
            outs[0].append(run.words_hear(cancelled))
            outs[1].append(cancelled)
        for j, out in enumerate(outs):
            detector.reset()
            heard[j] += any(d.t * RATE > onset for d in detector.process(np.concatenate(out)))
    detector.close()
    return heard[0] / tries * 100, heard[1] / tries * 100


def idle_cpu(seconds: float = 10.0, rounds: int = 6) -> tuple[float, float]:
    """CPU s per audio s of the capture path with nothing played, with cancellation configured
    and without, measured in alternating rounds on the same noise; the lower quartile of each."""
    noise = (np.random.default_rng(1).standard_normal(int(seconds * RATE)) * 30).astype(np.int16)
    blocks = [noise[i : i + BLOCK] for i in range(0, len(noise) - BLOCK + 1, BLOCK)]
    tap = PlaybackTap(lambda frames: None, OUT_RATE)
    results: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(rounds):
        for cancel in (True, False):
            chain = DspChain(RATE, echo_reference=tap.reader(RATE) if cancel else None)
            started = time.process_time()
            for block in blocks:
                tap(OUT_BLOCK)  # the output's side, the same in both
                chain.process(block)
            results[cancel].append((time.process_time() - started) / seconds)
    return (
        float(np.percentile(results[True], 25)),
        float(np.percentile(results[False], 25)),
    )


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
    answers = [_say(text, voice, directory, OUT_RATE) for voice, text in ANSWERS]
    users = [_say(text, voice, directory, RATE) for voice, text in USERS]
    figures: list[Figure] = []
    erle = _erle(answers * 2, loop, cancel=True)
    erle_off = _erle(answers * 2, loop, cancel=False)
    figures.append(Figure("echo: ERLE after 2 s (default room)", erle, "dB", ">= 25", erle_off))
    loss = _double_talk_loss(answers[0], users[0], 3 * RATE, loop, cancel=True)
    loss_off = _double_talk_loss(answers[0], users[0], 3 * RATE, loop, cancel=False)
    figures.append(Figure("echo: talker speech lost in double talk", loss, "dB", None, loss_off))
    share, latencies = barge_ins(answers, users, loop, cancel=True)
    share_off, _ = barge_ins(answers, users, loop, cancel=False)
    figures.append(Figure("echo: barge-ins by voice detected", share, "%", ">= 90", share_off))
    within = sum(lat <= 400 for lat in latencies) / INTERRUPTIONS * 100
    figures.append(
        Figure(
            "echo: barge-ins by voice, silence at the speaker within 400 ms",
            within,
            "%",
            ">= 90",
            0.0,
        )
    )
    if latencies:
        for q in (50, 95):
            figures.append(
                Figure(
                    f"echo: barge-in onset -> silence at the speaker p{q}",
                    float(np.percentile(latencies, q)),
                    "ms",
                )
            )
    false, seconds, cpu = self_interruptions(directory, loop, SELF_SPEECH_S, cancel=True)
    # without the canceller the same detector on the raw microphone: what opening it would do
    false_off, seconds_off, cpu_off = self_interruptions(
        directory, loop, min(SELF_SPEECH_S, 120.0), cancel=False
    )
    figures.append(
        Figure(
            f"echo: false self-interruptions per hour ({false} in {seconds:.0f} s)",
            false * 3600 / seconds,
            "/h",
            "0",
            false_off * 3600 / seconds_off,
        )
    )
    figures.append(Figure("echo: CPU while speaking", cpu * 1000, "ms/s", None, cpu_off * 1000))
    for before_s, when in ((0.0, "in the first 16 s after start"), (20.0, "after 20 s of music")):
        over_music = wake_over_music(directory, loop, cancel=True, played_before_s=before_s)
        over_music_off = wake_over_music(directory, loop, cancel=False, played_before_s=before_s)
        figures.append(
            Figure(
                f"echo: hey jarvis heard over loud music (music cancelled), {when}",
                over_music,
                "%",
                "> baseline",
                over_music_off,
            )
        )
    for word, model in (("alexa", "alexa"), ("hey jarvis", "hey_jarvis")):
        heard, heard_aec3 = words_over_answer(directory, answers, loop, word=word, model=model)
        figures.append(
            Figure(
                f"echo: {word!r} heard over the second answer (baseline: in AEC3's output)",
                heard,
                "%",
                "> baseline",
                heard_aec3,
            )
        )
    idle, idle_off = idle_cpu()
    figures.append(
        Figure(
            "echo: CPU idle (nothing played), capture path",
            idle * 1000,
            "ms/s",
            "= baseline",
            idle_off * 1000,
        )
    )
    return figures
