"""scripts/install-satellite, the documented install command for the Pi (issue #17): on a Python or
machine the satellite cannot run on it says why within seconds, before creating or downloading
anything (pip 23.0.1 on a refused Python backtracks for a quarter of an hour instead).

Real interpreters where this machine has them (pyenv's 3.11, 3.12 and older), and a fake one that
reports what a 32-bit Pi OS or another machine would (the script asks the interpreter for its
version, pointer size and machine in one call)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from realtime_voice_dev.corpus import Clip, espeak_available
from realtime_voice_satellite.audio import write_wav

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "install-satellite"
ECHO_FIGURES = ROOT / "tests" / "arm64" / "echo_figures.py"  # runs on any machine
ANSWER = "The kitchen lights are on. Anything else I can do for you?"
PYENV = Path.home() / ".pyenv" / "versions"


def requires_python() -> str:
    found = re.search(
        r'^requires-python = "([^"]+)"', (ROOT / "satellite" / "pyproject.toml").read_text(), re.M
    )
    assert found
    return found[1]


def pyenv_python(version: str) -> Path | None:
    found = sorted(PYENV.glob(f"{version}.*/bin/python"))
    return found[-1] if found else None


def install(
    tmp_path: Path, python: Path | str, *, script: Path = SCRIPT, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    result = subprocess.run(
        ["bash", str(script), "--python", str(python), str(tmp_path / "venv")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )
    return result, time.monotonic() - start


def fake_python(tmp_path: Path) -> Path:
    """An "interpreter" that answers the script's question with $FAKE_FACTS (version, bits,
    machine) and fails anything else (such as -m venv)."""
    path = tmp_path / "python-fake"
    path.write_text('#!/bin/sh\n[ "$1" = -c ] && echo "$FAKE_FACTS" && exit 0\nexit 1\n')
    path.chmod(0o755)
    return path


def refused(result: subprocess.CompletedProcess[str], seconds: float, tmp_path: Path) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert seconds < 10
    assert not (tmp_path / "venv").exists()
    assert "Installing" not in result.stdout
    assert "Traceback" not in result.stderr
    return result.stderr


@pytest.mark.parametrize("version", ["3.10", "3.9", "3.6", "2.7"])
def test_an_older_python_is_refused_at_once(tmp_path: Path, version: str) -> None:
    python = pyenv_python(version)
    if python is None:
        pytest.skip(f"no Python {version} under {PYENV}")
    assert requires_python() == ">=3.11"  # what the message below says
    err = refused(*install(tmp_path, python), tmp_path)
    assert re.match(
        rf"install-satellite: Python {re.escape(version)}\.\d+ \({re.escape(str(python))}\) is "
        r"not supported: the satellite requires Python >=3\.11\.",
        err,
    ), err
    assert "uv python install 3.13" in err


@pytest.mark.parametrize("machine", ["armv7l", "armv6l", "aarch64"])
def test_32_bit_is_refused_with_the_reasons(tmp_path: Path, machine: str) -> None:
    err = refused(
        *install(tmp_path, fake_python(tmp_path), env={"FAKE_FACTS": f"3.13.1 32 {machine}"}),
        tmp_path,
    )
    assert err.startswith("install-satellite: 32-bit is not supported")
    assert f"32-bit build on {machine}" in err
    assert "64-bit Raspberry Pi OS" in err
    assert "wrong ELF class" in err


def test_a_machine_without_a_tflite_runtime_is_refused(tmp_path: Path) -> None:
    err = refused(
        *install(tmp_path, fake_python(tmp_path), env={"FAKE_FACTS": "3.13.1 64 riscv64"}),
        tmp_path,
    )
    assert "this machine (riscv64) is not supported" in err


def test_something_that_is_not_a_python_is_refused(tmp_path: Path) -> None:
    err = refused(*install(tmp_path, "/bin/false"), tmp_path)
    assert "does not run as a Python interpreter" in err
    err = refused(*install(tmp_path, tmp_path / "nothing"), tmp_path)
    assert "no Python" in err


@pytest.mark.parametrize(
    ("requires", "version", "allowed"),
    [
        (">=3.13", "3.13.0", True),
        (">=3.13", "3.14.2", True),
        (">=3.13", "3.12.9", False),
        (">=3.11,<3.15", "3.11.2", True),
        (">=3.11,<3.15", "3.15.0", False),
        (">=3.11, !=3.12.0", "3.12.0", False),
        (">=3.11, !=3.12.0", "3.12.1", True),
        ("==3.13", "3.13.0", True),
        (">3.13", "3.13.0", False),
        ("<=3.13.1", "3.13.1", True),
    ],
)
def test_requires_python_is_read_from_pyproject(
    tmp_path: Path, requires: str, version: str, allowed: bool
) -> None:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, project / "scripts")
    (project / "satellite").mkdir()
    (project / "satellite" / "pyproject.toml").write_text(
        f'[project]\nname = "x"\nrequires-python = "{requires}"\n'
    )
    result, _ = install(
        tmp_path,
        fake_python(tmp_path),
        script=project / "scripts" / "install-satellite",
        env={"FAKE_FACTS": f"{version} 64 aarch64"},
    )
    assert result.returncode == 1  # the fake cannot make a venv
    if allowed:
        assert "Creating" in result.stdout, result.stderr
        assert "could not create" in result.stderr
    else:
        assert f"requires Python {requires}" in result.stderr


def test_an_unreadable_requires_python_is_an_error(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(SCRIPT, project / "scripts")
    (project / "satellite").mkdir()
    (project / "satellite" / "pyproject.toml").write_text('[project]\nrequires-python = "~=3.13"\n')
    result, _ = install(
        tmp_path,
        fake_python(tmp_path),
        script=project / "scripts" / "install-satellite",
        env={"FAKE_FACTS": "3.13.1 64 x86_64"},
    )
    assert result.returncode == 1
    assert "cannot read requires-python '~=3.13'" in result.stderr


def test_the_documented_install_uses_the_script() -> None:
    """docs/satellite.md installs with scripts/install-satellite; and never with a pip that a
    venv made by uv does not have (uv venv makes none)."""
    docs = (ROOT / "docs" / "satellite.md").read_text()
    install_section = docs.split("## Install", 1)[1].split("\n## ", 1)[0]
    assert "src/scripts/install-satellite --python" in install_section
    assert "uv pip install --python" in install_section
    for doc in ("satellite.md", "installation.md"):
        text = (ROOT / "docs" / doc).read_text()
        if "uv venv" in text:
            assert not re.search(r"\.venv/bin/pip install", text), doc
        assert "scripts/install-satellite" in text, doc


@pytest.mark.parametrize("version", ["3.11", "3.13"])
def test_the_satellite_installs_and_runs_on_bookworm_and_trixie_pythons(
    tmp_path: Path, version: str
) -> None:
    """The documented install on the Pythons of Raspberry Pi OS Bookworm (3.11) and Trixie (3.13):
    pip builds satellite/ in place, the link arrives as the integration's real files, and the
    command has the Pi's subcommands only (bench and probe are the repository's)."""
    python = pyenv_python(version)
    if python is None:
        pytest.skip(f"no Python {version} under {PYENV}")
    result = subprocess.run(
        ["bash", str(SCRIPT), "--python", str(python), str(tmp_path / "venv"), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("realtime-voice 0.1.0")
    (site,) = (tmp_path / "venv" / "lib").glob("python3.*/site-packages")
    link = site / "realtime_voice_satellite" / "link"
    sources = sorted((ROOT / "custom_components" / "realtime_voice" / "core" / "link").glob("*.py"))
    assert sources
    for source in sources:
        installed = link / source.name
        assert not installed.is_symlink()
        assert installed.read_bytes() == source.read_bytes(), installed
    assert not (site / "realtime_voice_core").exists()
    assert not (site / "realtime_voice_dev").exists()
    help_text = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "realtime-voice"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    commands = re.findall(r"^    ([a-z]+)(?: |$)", help_text, re.M)
    assert sorted(commands) == ["satellite", "wakeword"], help_text
    hears_the_wake_word_and_cancels_echo(tmp_path / "venv", tmp_path)


def hears_the_wake_word_and_cancels_echo(venv: Path, work: Path) -> None:
    """With what pip resolved on this Python: both wake-word engines detect a spoken wake word,
    and the echo canceller (pywebrtc-audio) with the voice detector (pymicro-vad) works."""
    if not espeak_available():
        pytest.skip("espeak-ng not installed")
    # espeak's voice wakes hey_jarvis in openWakeWord and okay_nabu in microWakeWord
    for engine, model in (("openwakeword", "hey_jarvis"), ("microwakeword", "okay_nabu")):
        wake = Clip(model.replace("_", " "), "en-gb", 140, lead_s=1.5, tail_s=1.5).wav()
        result = subprocess.run(
            [str(venv / "bin" / "realtime-voice"), "wakeword", "--input", str(wake), "--json",
             "--engine", engine, "--model", model],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        found = [json.loads(line) for line in result.stdout.splitlines()]
        assert [d["model"] for d in found] == [model], (engine, result.stdout)
    answer = work / "answer.wav"
    write_wav(answer, Clip(ANSWER, "en-us", 160, lead_s=0.2, tail_s=0.5).render(), 16_000)
    result = subprocess.run(
        [str(venv / "bin" / "python"), str(ECHO_FIGURES), str(answer)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["erle_db"] >= 25.0, figures
    assert figures["speech_frames_in_residual"] < figures["speech_frames_in_speech"] / 4, figures
