"""Run by tests/arm64 with a Python on either machine: the openWakeWord engine's scores on a 16 kHz
WAV, with the satellite's own front end (numpy mel, incremental embedding) and with
pyopen-wakeword's TFLite models for both, printed as JSON (one list of scores per front end).

The WAV is already at 16 kHz: soxr's output differs between the machines by a least significant
bit, and the log-mel of near-silent stretches turns that into score differences of up to 0.3.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from realtime_voice_satellite.audio.wav import read_wav
from realtime_voice_satellite.wakeword.openwakeword import OpenWakeWordEngine

CHUNK = 320  # 20 ms blocks at 16 kHz, as the satellite feeds them


def scores(engine: OpenWakeWordEngine, audio: np.ndarray) -> list[float]:
    found: list[float] = []
    for start in range(0, len(audio), CHUNK):
        found += [frame.scores[0] for frame in engine.process(audio[start : start + CHUNK])]
    engine.close()
    return found


def main(path: str) -> None:
    audio, rate = read_wav(path)
    assert rate == 16_000, rate
    ours = OpenWakeWordEngine(["hey_jarvis"], quiet_gate_dbfs=None)
    tflite = OpenWakeWordEngine(
        ["hey_jarvis"], quiet_gate_dbfs=None, mel="tflite", embedding="tflite"
    )
    print(json.dumps({"ours": scores(ours, audio), "tflite": scores(tflite, audio)}))


if __name__ == "__main__":
    main(sys.argv[1])
