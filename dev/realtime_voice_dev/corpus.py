"""Speech corpus synthesized with espeak-ng, for wake-word tests and the benchmark.

Clips are cached as WAV files under tests/.cache/corpus/ (git-ignored), keyed by everything that
shapes them, so a second run costs nothing. Noise is generated with numpy from a seed, so every
clip is reproducible. Used by the tests and the wake-word benchmark.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from realtime_voice_satellite.audio.wav import read_wav, write_wav

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "tests" / ".cache" / "corpus"

# espeak-ng voice+variant names that exist in Debian's espeak-ng-data, men's and women's
VOICES: tuple[str, ...] = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp+m3", "en-029", "en-us+f2")
SPEEDS: tuple[int, ...] = (140, 175)  # words per minute (espeak's default is 175)
WAKE_PHRASES: dict[str, str] = {
    "hey_jarvis": "hey jarvis",
    "okay_nabu": "okay nabu",
    "alexa": "alexa",
    "hey_mycroft": "hey my croft",
    "hey_rhasspy": "hey rhaspee",
}
# sentences without a wake word, for false accepts
OTHER_SPEECH: tuple[str, ...] = (
    "what is the weather like tomorrow morning",
    "please turn off the lights in the kitchen",
    "the quick brown fox jumps over the lazy dog",
    "set a timer for ten minutes and remind me to call my sister",
    "I think the meeting has been moved to thursday afternoon",
    "jars of jam are on the shelf next to the vase",
    "hey there, how are you doing today",
    "okay, let us go to the market and buy some bread",
    "my computer needs a new power supply and a bigger disk",
    "she sells sea shells by the sea shore",
    "navigate to the nearest petrol station",
    "a nap after lunch helps me get through the afternoon",
)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def synthesize(text: str, voice: str = "en-us", speed: int = 175, pitch: int = 50) -> Path:
    """One utterance as a WAV file (espeak-ng's 22050 Hz), cached."""
    key = hashlib.sha256(f"{text}|{voice}|{speed}|{pitch}".encode()).hexdigest()[:16]
    path = CACHE / f"tts-{key}.wav"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(tmp), text],
            check=True,
            capture_output=True,
        )
        tmp.replace(path)
    return path


def noise(length: int, rate: int, seed: int, kind: str = "pink") -> np.ndarray:
    """Float noise of unit RMS: ``white``, ``pink`` (1/f, like a fan or a room), or ``babble``."""
    rng = np.random.default_rng(seed)
    if kind == "white":
        x = rng.standard_normal(length)
    elif kind == "pink":
        spectrum = np.fft.rfft(rng.standard_normal(length))
        freqs = np.fft.rfftfreq(length, 1 / rate)
        spectrum[1:] /= np.sqrt(freqs[1:])
        spectrum[0] = 0
        x = np.fft.irfft(spectrum, n=length)
    elif kind == "babble":
        # several overlapping voices of non-wake speech: the hardest noise for a wake word
        x = np.zeros(length)
        for i in range(4):
            clip = load(synthesize(OTHER_SPEECH[(seed + i) % len(OTHER_SPEECH)], VOICES[i]), rate)
            reps = np.tile(clip.astype(np.float64), length // len(clip) + 1)
            x += np.roll(reps[:length], rng.integers(0, length))
    else:
        raise ValueError(f"unknown noise kind {kind!r}")
    return x / (np.sqrt(np.mean(x**2)) or 1.0)


def load(path: Path, rate: int) -> np.ndarray:
    """A WAV file as int16 at ``rate`` (resampled with soxr)."""
    import soxr

    samples, file_rate = read_wav(path)
    if file_rate == rate:
        return samples
    out = soxr.resample(samples.astype(np.float32) / 32768, file_rate, rate, quality="HQ")
    return np.clip(np.rint(out * 32768), -32768, 32767).astype(np.int16)


@dataclass(frozen=True, slots=True)
class Clip:
    """A phrase placed after ``lead_s`` of (noisy) silence, ``snr_db`` None for clean audio."""

    text: str
    voice: str = "en-us"
    speed: int = 175
    snr_db: float | None = None
    noise_kind: str = "pink"
    lead_s: float = 1.5
    tail_s: float = 1.0
    level_dbfs: float = -20.0  # speech RMS
    seed: int = 0

    def render(self, rate: int = 16_000) -> np.ndarray:
        speech = load(synthesize(self.text, self.voice, self.speed), rate).astype(np.float64)
        voiced = speech[np.abs(speech) > 100]
        speech_rms = np.sqrt(np.mean(voiced**2)) if len(voiced) else 1.0
        speech *= 10 ** (self.level_dbfs / 20) * 32768 / speech_rms
        lead, tail = int(self.lead_s * rate), int(self.tail_s * rate)
        x = np.concatenate((np.zeros(lead), speech, np.zeros(tail)))
        if self.snr_db is not None:
            noise_rms = 10 ** ((self.level_dbfs - self.snr_db) / 20) * 32768
            x += noise_rms * noise(len(x), rate, self.seed, self.noise_kind)
        return np.clip(np.rint(x), -32768, 32767).astype(np.int16)

    def wav(self, rate: int = 16_000) -> Path:
        """The rendered clip as a cached WAV file."""
        key = hashlib.sha256(repr((self, rate)).encode()).hexdigest()[:16]
        path = CACHE / f"clip-{key}.wav"
        if not path.exists():
            CACHE.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            write_wav(tmp, self.render(rate), rate)
            tmp.replace(path)
        return path


def wake_clips(
    model: str, snrs: tuple[float | None, ...] = (None, 10.0, 0.0), voices: tuple[str, ...] = VOICES
) -> list[Clip]:
    """Every voice x speed x noise condition of one wake phrase."""
    return [
        Clip(WAKE_PHRASES[model], voice, speed, snr, seed=i)
        for i, (voice, speed, snr) in enumerate(
            (v, s, n) for n in snrs for v in voices for s in SPEEDS
        )
    ]


def background(seconds: float, rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """Non-wake speech by every voice, with pauses, clean or over pink, white or babble noise at
    10 or 20 dB SNR, cut to ``seconds``; cached as a WAV file."""
    key = hashlib.sha256(f"background|{seconds}|{rate}|{seed}|{OTHER_SPEECH}".encode()).hexdigest()
    path = CACHE / f"background-{key[:16]}.wav"
    if path.exists():
        return read_wav(path)[0]
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    total = 0
    i = 0
    while total < seconds * rate:
        clip = Clip(
            OTHER_SPEECH[i % len(OTHER_SPEECH)],
            VOICES[(i // len(OTHER_SPEECH)) % len(VOICES)],
            SPEEDS[i % len(SPEEDS)],
            snr_db=[None, 10.0, 20.0][i % 3],
            noise_kind=["pink", "white", "babble"][(i // 3) % 3],
            lead_s=float(rng.uniform(0.2, 1.5)),
            tail_s=0.2,
            seed=seed * 1000 + i,
        ).render(rate)
        parts.append(clip)
        total += len(clip)
        i += 1
    audio = np.concatenate(parts)[: int(seconds * rate)]
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    write_wav(tmp, audio, rate)
    tmp.replace(path)
    return audio
