"""The ``realtime-voice`` console script: one entry point, one module per subcommand.

Each subcommand module exposes ``configure_parser(parser)`` and ``run(args) -> int`` (the exit code).
The satellite brings ``satellite`` and ``wakeword``; other installed distributions add theirs
through the ``realtime_voice.commands`` entry points (the repository's tools add ``probe`` and
``bench``), with their help in the module's ``HELP``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from types import ModuleType

from . import __version__

ENTRY_POINT_GROUP = "realtime_voice.commands"

# name -> (module relative to this package, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "wakeword": (
        ".commands.wakeword",
        "run a WAV file through the satellite's DSP and wake-word chain",
    ),
    "satellite": (".commands.satellite", "run the satellite agent"),
}


def _commands() -> list[tuple[str, ModuleType, str]]:
    commands = [
        (name, importlib.import_module(module_name, __package__), help_text)
        for name, (module_name, help_text) in SUBCOMMANDS.items()
    ]
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        if point.name not in SUBCOMMANDS:
            module = point.load()
            commands.append((point.name, module, str(getattr(module, "HELP", ""))))
    return commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="realtime-voice", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, help_text in _commands():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
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
