"""Echo-cancellation figures for ``realtime-voice bench`` (#16), each beside the same run without
echo cancellation.

The satellite's own pieces, stepped in 20 ms blocks as the agent runs them (faster than real
time): the answer goes through a :class:`PlaybackTap` at 24 kHz as the output takes it; the room
(file mode's default room, :mod:`.room`) hears it 100 ms later through its impulse response and
adds it to the user's speech; the DSP chain cancels it with the tap's reference and the voice
detector (:mod:`.voice`) watches the result. Speech is espeak-ng's (answers and interruptions
in several voices); the runs start with a fresh canceller, so convergence is inside them.

- ERLE: echo removed after 2 s of convergence, over the blocks that hold echo.
- double talk: how much of the user's speech the canceller removes while the answer plays.
- barge-in: interruptions detected within the speech, and the latency from the speech's onset to
  the decision plus one 20 ms output block (the player stops at the next block; the output
  device's own buffer comes on top and is not counted).
- false self-interruptions: the voice detector over answers without a user, per hour of answer
  (measured over a few minutes and scaled; zero measured is reported as zero).
- CPU per audio second of the DSP chain (with the canceller and the voice detector while
  speaking; idle: nothing played).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soxr

from realtime_voice_satellite.agent.played import PlaybackTap
from realtime_voice_satellite.agent.room import Convolver, default_room
from realtime_voice_satellite.agent.voice import VoiceBargeIn
from realtime_voice_satellite.audio import DspChain, read_wav

from . import Figure

RATE = 16_000  # the microphone's
OUT_RATE = 24_000
BLOCK = 320  # 20 ms at 16 kHz
OUT_BLOCK = 480
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
USERS = (
    ("en-us+f2", "no wait, turn off the bedroom light instead"),
    ("en-gb-x-rp+m3", "hold on a second"),
    ("en-029", "stop, that is not what I asked"),
    ("en-us", "actually, what time is it in Tokyo"),
)
INTERRUPTIONS = 20


def _say(text: str, voice: str, directory: Path, rate: int) -> np.ndarray:
    path = directory / f"{abs(hash((text, voice)))}.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True
    )
    samples, source_rate = read_wav(path)
    return soxr.resample(samples, source_rate, rate).astype(np.int16)


class _Run:
    """One answer in the room, with the user's speech added; the chain's outputs per block."""

    def __init__(self, answer_24k: np.ndarray, user_16k: np.ndarray, *, cancel: bool) -> None:
        self.answer = answer_24k
        self.user = user_16k
        self._played = 0
        tap = PlaybackTap(self._pull, OUT_RATE)
        self._room_in = tap.reader(RATE, margin_s=0.1)
        self._room = Convolver(default_room(RATE))
        self._tap = tap
        self.chain = DspChain(RATE, echo_reference=tap.reader(RATE) if cancel else None)
        self.voice = VoiceBargeIn()
        self.cpu = 0.0  # process time in the chain and the voice detector

    def heard(self, near: np.ndarray, out: np.ndarray) -> bool:
        started = time.process_time()
        echo = self.chain.echo
        heard = self.voice(near, out) is not None and (echo is None or echo.converged)
        self.cpu += time.process_time() - started
        return heard

    def _pull(self, frames: int) -> np.ndarray | None:
        block = self.answer[self._played : self._played + frames]
        self._played += frames
        if not len(block):
            return None
        return np.pad(block, (0, frames - len(block)))

    def step(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Block ``i``: the 16 kHz microphone before and after the canceller."""
        self._tap(OUT_BLOCK)
        echo = self._room(self._room_in.read(BLOCK))
        user = self.user[i * BLOCK : (i + 1) * BLOCK].astype(np.float64)
        mic = echo.copy()
        mic[: len(user)] += user
        block = np.clip(np.rint(mic), -32768, 32767).astype(np.int16)
        started = time.process_time()
        frame = self.chain.process(block)
        self.cpu += time.process_time() - started
        cancelled = frame.wake_16k
        near = frame.echo_mic_16k if frame.echo_mic_16k is not None else cancelled
        return near, cancelled


def _energy(x: np.ndarray) -> float:
    y = x.astype(np.float64)
    return float(y.dot(y))


def _db(a: float, b: float) -> float:
    return 10 * np.log10(max(a, 1e-9) / max(b, 1e-9))


def _erle_and_false(answers: list[np.ndarray], *, cancel: bool) -> tuple[float, int, float, float]:
    """(ERLE dB after 2 s, false barge-ins, seconds of answer, CPU s per audio s)."""
    mic_e = out_e = 0.0
    false = 0
    seconds = 0.0
    cpu = 0.0
    for answer in answers:
        blocks = len(answer) // OUT_BLOCK + 25
        run = _Run(answer, np.zeros(0, np.int16), cancel=cancel)
        for i in range(blocks):
            near, out = run.step(i)
            if i * BLOCK >= 2 * RATE and _energy(near) > 1e3 * len(near):
                mic_e += _energy(near)
                out_e += _energy(out)
            if run.heard(near, out):
                false += 1
        cpu += run.cpu
        seconds += blocks * BLOCK / RATE
    return _db(mic_e, out_e), false, seconds, cpu / seconds


def _double_talk_loss(answer: np.ndarray, user: np.ndarray, onset: int, *, cancel: bool) -> float:
    """dB of the user's speech lost: (with user) - (without user), against the user alone."""
    outs: list[list[np.ndarray]] = [[], []]
    padded = np.concatenate([np.zeros(onset, np.int16), user])
    for k, talker in enumerate((padded, np.zeros(0, np.int16))):
        run = _Run(answer, talker, cancel=cancel)
        for i in range(len(padded) // BLOCK):
            outs[k].append(run.step(i)[1].astype(np.float64))
    both = np.concatenate(outs[0])
    echo_only = np.concatenate(outs[1])
    n = min(len(both), len(echo_only), len(padded))
    kept = both[:n] - echo_only[:n]
    reference = padded[:n].astype(np.float64)
    segment = slice(onset, n)
    return _db(_energy(reference[segment]), _energy(kept[segment]))


def _barge_ins(
    answers: list[np.ndarray], users: list[np.ndarray], *, cancel: bool
) -> tuple[float, list[float]]:
    """(share detected within the speech, latencies in ms)."""
    rng = np.random.default_rng(16)
    detected = 0
    latencies: list[float] = []
    for k in range(INTERRUPTIONS):
        answer = answers[k % len(answers)]
        user = (users[k % len(users)] * (0.5, 0.7, 1.0)[k % 3]).astype(np.int16)
        length = len(answer) * RATE // OUT_RATE
        onset = int(rng.uniform(3.0, max(3.5, length / RATE - 3.0)) * RATE)
        spoken = onset + int(np.argmax(np.abs(user) > 500))
        talker = np.concatenate([np.zeros(onset, np.int16), user])
        run = _Run(answer, talker, cancel=cancel)
        hit: list[int] = []
        for i in range(len(talker) // BLOCK):
            near, out = run.step(i)
            if run.heard(near, out) and (i + 1) * BLOCK > onset:
                hit.append((i + 1) * BLOCK)
                break
        if hit and hit[0] <= onset + len(user):
            detected += 1
            latencies.append((hit[0] - spoken) * 1000 / RATE + 20)
    return detected / INTERRUPTIONS * 100, latencies


def collect() -> list[Figure]:
    if shutil.which("espeak-ng") is None:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        answers = [_say(text, voice, directory, OUT_RATE) for voice, text in ANSWERS]
        users = [_say(text, voice, directory, RATE) for voice, text in USERS]
    figures: list[Figure] = []
    # a few minutes of the satellite's own speech: each answer several times, a fresh
    # canceller each time (so every run has its convergence in it)
    long = answers * 4
    erle, false, seconds, cpu = _erle_and_false(long, cancel=True)
    erle_off, false_off, _, cpu_off = _erle_and_false(long, cancel=False)
    figures.append(Figure("echo: ERLE after 2 s (default room)", erle, "dB", ">= 25", erle_off))
    loss = _double_talk_loss(answers[0], users[0], 3 * RATE, cancel=True)
    loss_off = _double_talk_loss(answers[0], users[0], 3 * RATE, cancel=False)
    figures.append(Figure("echo: talker speech lost in double talk", loss, "dB", None, loss_off))
    share, latencies = _barge_ins(answers, users, cancel=True)
    share_off, _ = _barge_ins(answers, users, cancel=False)
    figures.append(Figure("echo: barge-ins by voice detected", share, "%", ">= 90", share_off))
    within = sum(lat <= 400 for lat in latencies) / INTERRUPTIONS * 100
    figures.append(Figure("echo: barge-ins by voice within 400 ms", within, "%", ">= 90", 0.0))
    if latencies:
        figures.append(
            Figure("echo: barge-in latency p50", float(np.percentile(latencies, 50)), "ms")
        )
        figures.append(
            Figure(
                "echo: barge-in latency p95", float(np.percentile(latencies, 95)), "ms", "<= 400"
            )
        )
    # without the canceller the same detector on the raw microphone: what opening it would do
    figures.append(
        Figure(
            f"echo: false self-interruptions per hour ({seconds:.0f} s measured)",
            false * 3600 / seconds,
            "/h",
            "0",
            false_off * 3600 / seconds,
        )
    )
    figures.append(Figure("echo: CPU while speaking", cpu * 1000, "ms/s", None, cpu_off * 1000))
    idle, idle_off = _idle_cpu(cancel=True), _idle_cpu(cancel=False)
    figures.append(
        Figure(
            "echo: CPU idle (nothing played)", idle * 1000, "ms/s", "= baseline", idle_off * 1000
        )
    )
    return figures


def _idle_cpu(*, cancel: bool, seconds: float = 30.0) -> float:
    run = _Run(np.zeros(0, np.int16), np.zeros(0, np.int16), cancel=cancel)
    blocks = int(seconds * RATE / BLOCK)
    noise = (np.random.default_rng(1).standard_normal(blocks * BLOCK) * 30).astype(np.int16)
    run.user = noise
    for i in range(blocks):
        run.step(i)
    return run.cpu / seconds
