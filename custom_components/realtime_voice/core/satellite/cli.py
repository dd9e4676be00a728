"""`realtime-voice satellite`: not yet available (issue #4)."""

from __future__ import annotations

import argparse
import sys


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    print("realtime-voice satellite: not yet available (tracked in issue #4)", file=sys.stderr)
    return 3
