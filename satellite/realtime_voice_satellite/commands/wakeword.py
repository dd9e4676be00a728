"""``realtime-voice wakeword``: a WAV file through the satellite's DSP chain and wake-word detector.

The file (any rate, mono or stereo) is fed in 20 ms chunks, as the microphone would deliver it, to
the same ``DspChain`` and ``WakeWordDetector`` the satellite uses. Each detection is printed as
``model t score``, or one JSON object per line with ``--json``. Exit 2 for a bad file or option.
"""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_MODEL = "okay_nabu"
CHUNK_SECONDS = 0.02


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", required=True, metavar="FILE.wav", help="WAV file, any rate")
    parser.add_argument(
        "--model",
        action="extend",
        nargs="+",
        metavar="NAME|PATH",
        help=f"built-in model names or model files, several at once (default: {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="score threshold for every model (default: each model's recommendation, see "
        "docs/wake-word.md; 0.5 for other openWakeWord models, the model's own for microWakeWord)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per detection")
    parser.add_argument(
        "--engine", choices=("openwakeword", "microwakeword"), default="openwakeword"
    )
    parser.add_argument(
        "--trigger-level",
        type=int,
        default=None,
        help="consecutive steps above the threshold (default: each model's recommendation, 1 for "
        "models without one)",
    )
    parser.add_argument("--refractory", type=float, default=2.0, help="seconds (2.0)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds (1.0)")
    parser.add_argument("--highpass", type=float, default=80.0, help="Hz, 0 for off (80)")
    parser.add_argument("--agc", action="store_true", help="automatic gain control on")
    parser.add_argument(
        "--noise-suppression", action="store_true", help="speex noise suppression on"
    )


def run(args: argparse.Namespace) -> int:
    from ..audio import AgcConfig, DspChain, WavError, read_wav
    from ..wakeword.detector import WakeWordDetector
    from ..wakeword.engine import WakeWordError

    try:
        samples, rate = read_wav(args.input)
        chain = DspChain(
            rate,
            highpass_hz=args.highpass,
            agc=AgcConfig() if args.agc else None,
            noise_suppression=args.noise_suppression,
        )
        detector = WakeWordDetector(
            args.model or [DEFAULT_MODEL],
            threshold=args.threshold,
            trigger_level=args.trigger_level,
            refractory_s=args.refractory,
            warmup_s=args.warmup,
            engine=args.engine,
        )
    except (WavError, WakeWordError, ValueError) as err:
        print(f"realtime-voice wakeword: {err}", file=sys.stderr)
        return 2
    try:
        chunk = max(1, round(rate * CHUNK_SECONDS))
        detections = []
        for start in range(0, len(samples), chunk):
            frame = chain.process(samples[start : start + chunk])
            detections += detector.process(frame.wake_16k)
        detections += detector.process(chain.flush().wake_16k)
    finally:
        detector.close()
    for d in detections:
        if args.json:
            print(json.dumps({"model": d.model, "t": round(d.t, 3), "score": round(d.score, 4)}))
        else:
            print(f"{d.model}\t{d.t:.2f}\t{d.score:.3f}")
    if not args.json:
        print(
            f"{len(detections)} detection(s) in {len(samples) / rate:.1f} s of audio "
            f"({', '.join(detector.names)}, "
            f"threshold {', '.join(f'{t:g}' for t in detector.thresholds)}, "
            f"trigger level {', '.join(str(n) for n in detector.trigger_levels)})",
            file=sys.stderr,
        )
    return 0
