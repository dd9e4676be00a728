"""The ``realtime-voice`` console script: one entry point, one module per subcommand.

Each subcommand module exposes ``configure_parser(parser)`` and ``run(args) -> int`` (the exit code).
They are imported only when their subcommand runs, so ``probe`` works without the satellite's audio
libraries and ``satellite`` works without the test tools.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__

# name -> (module relative to this package, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "probe": (".realtime.probe", "connect to a Realtime endpoint and run one short turn"),
    "wakeword": (".wakeword.cli", "run a WAV file through the satellite's DSP and wake-word chain"),
    "satellite": (".satellite.cli", "run the satellite agent"),
    "bench": (".bench", "run the benchmarks and print their figures"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realtime-voice", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module = importlib.import_module(module_name, __package__)
        module.configure_parser(sub_parser)
        sub_parser.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
