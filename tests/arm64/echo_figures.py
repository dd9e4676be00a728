"""Run by tests/arm64 with a Python on either machine: the satellite's echo canceller (AEC3 from
pywebrtc-audio) and voice detector (pymicro-vad) on a 16 kHz WAV of speech played into the default
room, printed as JSON: the echo removed after convergence (ERLE, dB) by AEC3 and by the linear
canceller beside it, and how many 10 ms frames the voice detector scores as speech in the speech
itself and in what is left of its echo."""

from __future__ import annotations

import json
import sys

import numpy as np
from pymicro_vad import MicroVad

from realtime_voice_satellite.agent.room import default_room
from realtime_voice_satellite.agent.voice import VoiceBargeIn
from realtime_voice_satellite.audio.aec3 import EchoCanceller
from realtime_voice_satellite.audio.wav import read_wav

RATE = 16_000
BLOCK = 320  # 20 ms, as the microphone delivers


class Played:
    """The reference: what the speaker played, read in step with the microphone."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples = samples
        self.position = 0

    def read(self, n: int) -> np.ndarray:
        out = self.samples[self.position : self.position + n]
        self.position += n
        return np.pad(out, (0, n - len(out)))


def speech_frames(audio: np.ndarray) -> int:
    """Frames pymicro-vad scores at or above the voice barge-in's threshold."""
    vad = MicroVad()
    score = getattr(vad, "process_10ms", None) or vad.Process10ms  # 2.x, or 1.0.1 (HA's pin)
    threshold = VoiceBargeIn().threshold
    frames = [audio[i : i + 160] for i in range(0, len(audio) - 159, 160)]
    return sum(score(np.ascontiguousarray(f, dtype="<i2").tobytes()) >= threshold for f in frames)


def main(path: str) -> None:
    far, rate = read_wav(path)
    assert rate == RATE, rate
    # the default room: the direct sound 60 ms late at half level, and a reverberant tail
    room = np.convolve(far.astype(np.float64), default_room(RATE))[: len(far)]
    echo = np.clip(np.rint(room), -32768, 32767).astype(np.int16)
    canceller = EchoCanceller(Played(far))
    outputs, linear_outputs = [], []
    for i in range(0, len(echo), BLOCK):
        outputs.append(canceller(echo[i : i + BLOCK])[1])
        linear_outputs.append(canceller.linear)
    cancelled = np.concatenate(outputs)
    converged = slice(3 * RATE, len(cancelled))
    linear = np.concatenate(linear_outputs)[converged].astype(np.float64)
    mic = echo[: len(cancelled)][converged].astype(np.float64)
    out = cancelled[converged].astype(np.float64)
    print(
        json.dumps(
            {
                "erle_db": 10 * np.log10(mic.dot(mic) / max(out.dot(out), 1.0)),
                "linear_erle_db": 10 * np.log10(mic.dot(mic) / max(linear.dot(linear), 1.0)),
                "speech_frames_in_speech": speech_frames(far),
                "speech_frames_in_residual": speech_frames(cancelled[converged]),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
