"""``realtime-voice bench``: collects the figures of every area into one table.

Each area contributes a module with ``collect() -> list[Figure]``; a figure carries the reference
measured in the same run (``baseline``) where there is one, so that ratios hold across machines.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
from dataclasses import asdict, dataclass

HELP = "run the benchmarks and print their figures"

# Areas that contribute figures, in the order they are printed.
AREAS: tuple[str, ...] = (
    ".realtime",
    ".audio",
    ".wakeword",
    ".satellite",
    ".echo",
    ".pipeline",
    ".dsp_stages",
    ".brains",
    ".live",
)


@dataclass(frozen=True, slots=True)
class Figure:
    name: str
    value: float
    unit: str
    target: str | None = None
    baseline: float | None = None


def machine() -> dict[str, object]:
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def collect(areas: tuple[str, ...] = AREAS) -> list[Figure]:
    figures: list[Figure] = []
    for module_name in areas:
        try:
            module = importlib.import_module(module_name, __package__)
        except ModuleNotFoundError as err:
            if err.name and err.name.endswith(module_name.rsplit(".", 1)[-1]):
                continue  # that area has no benchmarks yet
            raise
        figures.extend(module.collect())
    return figures


def area_name(module_name: str) -> str:
    """ ".audio" -> "audio"; the echo canceller's figures are the satellite's."""
    return {".echo": "satellite"}.get(module_name, module_name.strip("."))


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--area",
        action="append",
        choices=list(dict.fromkeys(area_name(m) for m in AREAS)),
        help="only this area's figures (repeatable); default: all",
    )
    parser.add_argument(
        "--self-speech-s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds of the satellite's own speech for the false self-interruptions, the "
        "voice barge-in's (satellite) and GPT-Live's (live) (default 300; 3600 for the hour of "
        "issues #16 and #27, a few minutes of CPU)",
    )


def run(args: argparse.Namespace) -> int:
    wanted = getattr(args, "area", None)
    if getattr(args, "self_speech_s", None):
        from . import echo

        echo.set_self_speech(args.self_speech_s)
    figures = collect(tuple(m for m in AREAS if not wanted or area_name(m) in wanted))
    if args.json:
        print(json.dumps({"machine": machine(), "figures": [asdict(f) for f in figures]}))
        return 0
    print(f"machine: {machine()}")
    print(f"{'figure':<58} {'value':>12} {'unit':<10} {'baseline':>12}  target")
    for f in figures:
        baseline = "" if f.baseline is None else f"{f.baseline:.4g}"
        print(f"{f.name:<58} {f.value:>12.4g} {f.unit:<10} {baseline:>12}  {f.target or ''}")
    if not figures:
        print("(no benchmarks yet)")
    return 0
