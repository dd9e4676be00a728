"""Wake words: openWakeWord (default) and microWakeWord behind one detector.

API (used by the satellite agent and ``realtime-voice wakeword``)::

    detector = WakeWordDetector(["hey_jarvis", "/path/custom.tflite"], threshold=0.5,
                                trigger_level=1, refractory_s=2.0, warmup_s=1.0,
                                engine="openwakeword",    # or "microwakeword"
                                quiet_gate_dbfs=-60.0)    # None: never skip work when quiet
    for d in detector.process(samples_16k):      # int16 mono 16 kHz, any length
        print(d.model, d.t, d.score)             # Detection; t = seconds of audio since start
    detector.names                                # model names, e.g. ["hey_jarvis", "custom"]
    detector.thresholds                           # one per model; may be reassigned (a tuple)
    detector.reset()                              # new stream: t from 0, warm-up again
    detector.close()                              # frees the interpreters

Models: openWakeWord built-ins ``BUILTIN_MODELS`` by name, or a ``.tflite`` classifier path
(``.onnx`` when onnxruntime is installed); microWakeWord built-ins by name or a model's ``.json``.
Bad names, files or options raise ``WakeWordError`` (a ValueError) naming them, and so does a
machine without a runtime for the engines (32-bit, see ``platforms``).
The openWakeWord models run through ``tflite.TfLiteModel``: one thread and XNNPACK each, with
scores equal to pyopen-wakeword's (see ``openwakeword.py``).
"""

from .detector import ENGINES, Detection, WakeWordDetector
from .engine import ScoreFrame, WakeWordEngine, WakeWordError
from .openwakeword import BUILTIN_MODELS, DEFAULT_QUIET_GATE_DBFS

__all__ = [
    "BUILTIN_MODELS",
    "DEFAULT_QUIET_GATE_DBFS",
    "ENGINES",
    "Detection",
    "ScoreFrame",
    "WakeWordDetector",
    "WakeWordEngine",
    "WakeWordError",
]
