"""docs/satellite.md's way from a fresh SD card says what the code does: its commands parse with the
real command line (and install-satellite's with the script's own options), and the doctor's table
names every check the doctor runs."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from realtime_voice_satellite.cli import build_parser
from realtime_voice_satellite.setup import doctor

from .agent import fake_sounddevice as fake

ROOT = Path(__file__).resolve().parents[2]
DOCS = (ROOT / "docs" / "satellite.md").read_text()
FRESH = DOCS.split("## From a fresh SD card", 1)[1].split("\n## ", 1)[0]


def commands(text: str, program: str) -> list[list[str]]:
    """The arguments of each call of ``program`` in the text's shell blocks."""
    found = []
    shell = "\n".join(re.findall(r"```sh\n(.*?)```", text, re.S))
    for line in re.findall(r"^\s*(\S*" + re.escape(program) + r" .*)$", shell, re.M):
        words = shlex.split(line.split("#", 1)[0])
        found.append(words[1:])
    return found


def test_the_documented_agent_commands_parse() -> None:
    documented = commands(FRESH, "bin/realtime-voice")
    assert {("--setup" in c, "--doctor" in c) for c in documented} == {(True, False), (False, True)}
    for words in documented:
        args = build_parser().parse_args(words)
        assert args.config == Path("/etc/realtime-voice/satellite.yaml")


def test_the_one_install_command_installs_the_service() -> None:
    (words,) = commands(FRESH, "scripts/install-satellite")
    assert words[:3] == ["--python", "/usr/bin/python3", "--service"]
    script = (ROOT / "scripts" / "install-satellite").read_text()
    assert "--service) service=1" in script
    assert "/etc/realtime-voice/satellite.yaml" in script  # the config path the docs use


def test_the_doctors_table_names_every_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", fake.module(fake.usb_headset_and_hdmi()))
    doctor.run_doctor(doctor.Context(tmp_path / "satellite.yaml"))
    ran = {line[5:].split(":", 1)[0] for line in capsys.readouterr().out.splitlines()[:-1]}
    table = DOCS.split("### The doctor", 1)[1].split("\n### ", 1)[0]
    documented = set(
        re.findall(
            r"`([a-z ]+)`",
            "\n".join(row.split("|")[1] for row in table.splitlines() if row.startswith("| `")),
        )
    )
    assert documented == ran
