"""scripts/install-satellite, the documented install command for the Pi (issue #17): on a Python or
machine the satellite cannot run on it says why within seconds, before creating or downloading
anything (pip 23.0.1 on a refused Python backtracks for a quarter of an hour instead).

Real interpreters where this machine has them (pyenv's 3.11, 3.12 and older), and a fake one that
reports what a 32-bit Pi OS or another machine would (the script asks the interpreter for its
version, pointer size and machine in one call)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from realtime_voice_dev.corpus import Clip, espeak_available
from realtime_voice_satellite.audio import write_wav

from .release_build import Release, release_module

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


@pytest.mark.parametrize(("version", "origin"), [("3.11", "wheel"), ("3.13", "clone")])
def test_the_satellite_installs_and_runs_on_bookworm_and_trixie_pythons(
    tmp_path: Path, version: str, origin: str, request: pytest.FixtureRequest
) -> None:
    """--from PATH on the Pythons of Raspberry Pi OS Bookworm (3.11: the released wheel) and Trixie
    (3.13: this clone, which pip builds in place): the link arrives as the integration's real
    files, and the command has the Pi's subcommands only (bench and probe are the repository's)."""
    python = pyenv_python(version)
    if python is None:
        pytest.skip(f"no Python {version} under {PYENV}")
    if origin == "wheel":
        release: Release = request.getfixturevalue("release")
        path, installed, expected = release.wheel, release.wheel, release.version
    else:
        path, installed, expected = ROOT, ROOT / "satellite", release_module().manifest_version()
    result = subprocess.run(
        ["bash", str(SCRIPT), "--python", str(python), "--from", str(path),
         str(tmp_path / "venv"), "--quiet"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Installing the satellite from {installed} into" in result.stdout
    assert result.stdout.strip().endswith(f"realtime-voice {expected}")
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


# --- --service: the systemd unit ------------------------------------------------------------------


def fake_venv(tmp_path: Path) -> Path:
    """A virtual environment whose pip installs nothing (the package install is tested above):
    its python answers the script's question with this machine's facts, and realtime-voice
    exists as the executable the unit runs."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        '#!/bin/sh\n[ "$1" = -c ] && exec python3 "$@"\n[ "$1 $2" = "-m pip" ] && exit 0\nexit 1\n'
    )
    command = venv / "bin" / "realtime-voice"
    command.write_text(f'#!/bin/sh\necho "realtime-voice {release_module().manifest_version()}"\n')
    for path in (python, command):
        path.chmod(0o755)
    return venv


def install_service(
    tmp_path: Path, *options: str, venv: Path | None = None
) -> subprocess.CompletedProcess[str]:
    venv = venv or fake_venv(tmp_path)
    return subprocess.run(
        ["bash", str(SCRIPT), "--service", *options, str(venv)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )


def unit_settings(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections and settings (a key may repeat), as systemd reads it."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, value = line.split("=", 1)
        assert current is not None, line
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_service_unit_runs_the_venvs_agent_with_the_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    config = "/etc/realtime-voice/kitchen.yaml"
    result = install_service(tmp_path, "--root", str(root), "--user", "pi", "--config", config)
    assert result.returncode == 0, result.stderr
    unit = root / "etc" / "systemd" / "system" / "realtime-voice-satellite.service"
    assert f"Written under {root} (nothing enabled): {unit}" in result.stdout
    service = unit_settings(unit)["Service"]
    venv = (tmp_path / "venv").resolve()
    assert service["ExecStart"] == [f"{venv}/bin/realtime-voice satellite --config {config}"]
    assert service["User"] == ["pi"]
    assert service["SupplementaryGroups"] == ["audio"]
    assert service["StateDirectory"] == ["realtime-voice"]
    assert service["ReadOnlyPaths"] == ["/etc/realtime-voice"]
    assert service["RestartPreventExitStatus"] == ["2"]  # a bad config is not restarted
    assert unit_settings(unit)["Install"]["WantedBy"] == ["multi-user.target"]
    assert "sudo cp" not in unit.read_text()  # the template's own install note is not kept
    assert (root / "etc" / "realtime-voice").is_dir()
    assert (root / "var" / "lib" / "realtime-voice").stat().st_mode & 0o777 == 0o700
    if shutil.which("systemd-analyze"):
        # systemd's own check, which also finds the ExecStart= program missing or not executable
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        assert verify.returncode == 0, verify.stderr
        (venv / "bin" / "realtime-voice").unlink()
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        assert verify.returncode != 0
        assert "realtime-voice is not executable" in verify.stderr


def test_the_service_user_defaults_to_the_venvs_owner_but_never_root(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path)
    owner = venv.owner()
    result = install_service(tmp_path, "--root", str(tmp_path / "root"), venv=venv)
    if owner == "root":
        assert result.returncode == 1
        assert "the service should not run as root: give --user USER" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        unit = tmp_path / "root/etc/systemd/system/realtime-voice-satellite.service"
        assert unit_settings(unit)["Service"]["User"] == [owner]


@pytest.mark.parametrize(
    ("options", "error"),
    [
        (("--config", "satellite.yaml"), "--config must be an absolute path"),
        (("--config", "/etc/my voice/s.yaml"), "must not contain spaces"),
        (("--user", "no-such-user-here"), "no user 'no-such-user-here' on this system"),
    ],
)
def test_bad_service_options_are_named(
    tmp_path: Path, options: tuple[str, ...], error: str
) -> None:
    result = install_service(tmp_path, *options)
    assert result.returncode == 1
    assert error in result.stderr
    assert not (tmp_path / "root").exists()


def test_an_unknown_option_shows_the_usage(tmp_path: Path) -> None:
    result = install_service(tmp_path, "--servcie")
    assert result.returncode == 2
    assert (
        "usage: scripts/install-satellite [--python PYTHON] [--from PATH] [--service"
        in result.stderr
    )


def test_one_command_installs_the_agent_and_its_unit_on_bookworms_python(
    tmp_path: Path, release: Release
) -> None:
    """The real install with --service, as a Pi owner runs it: realtime-voice-satellite of the
    integration's version by name from the package index that PIP_INDEX_URL names (here a local
    PEP 503 index holding the wheel that scripts/release built; the dependencies from PyPI). The
    unit systemd would run names the installed command, which has the first-start and doctor
    modes."""
    python = pyenv_python("3.11")
    if python is None:
        pytest.skip(f"no Python 3.11 under {PYENV}")
    root = tmp_path / "root"
    with release_module().serve(release.dist) as (url, asked):
        result = subprocess.run(
            ["bash", str(release.root / "scripts" / "install-satellite"), "--python", str(python),
             "--service", "--root", str(root), "--user", "pi", str(tmp_path / "venv"), "--quiet"],
            capture_output=True, text=True, check=False, timeout=300,
            env={**os.environ, "PIP_INDEX_URL": f"{url}/simple/",
                 "PIP_EXTRA_INDEX_URL": "https://pypi.org/simple"},
        )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        f"Installing realtime-voice-satellite=={release.version} into {tmp_path / 'venv'} from "
        f"pip's package index ({url}/simple/)"
    ) in result.stdout
    assert f"/{release.wheel.name}" in asked
    assert f"realtime-voice {release.version}" in result.stdout
    unit = root / "etc" / "systemd" / "system" / "realtime-voice-satellite.service"
    (exec_start,) = unit_settings(unit)["Service"]["ExecStart"]
    command, *arguments = exec_start.split()
    assert command == str(tmp_path / "venv" / "bin" / "realtime-voice")
    assert arguments == ["satellite", "--config", "/etc/realtime-voice/satellite.yaml"]
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
        )
        assert verify.returncode == 0, verify.stderr
    help_text = subprocess.run(
        [command, "satellite", "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert "--setup" in help_text
    assert "--doctor" in help_text


def test_pip_conf_names_the_index_and_a_missing_version_is_a_clear_error(tmp_path: Path) -> None:
    """pip's own configuration (here PIP_CONFIG_FILE's index-url) says where the satellite comes
    from; a version that the index does not have ends with a message that names it, where pip
    looked, and --from."""
    python = pyenv_python("3.11")
    if python is None:
        pytest.skip(f"no Python 3.11 under {PYENV}")
    (tmp_path / "index" / "simple").mkdir(parents=True)
    with release_module().serve(tmp_path / "index") as (url, asked):
        (tmp_path / "pip.conf").write_text(f"[global]\nindex-url = {url}/simple/\n")
        result, _ = install(tmp_path, python, env={"PIP_CONFIG_FILE": str(tmp_path / "pip.conf")})
    version = release_module().manifest_version()
    assert result.returncode == 1
    assert f"pip could not install realtime-voice-satellite=={version}" in result.stderr
    assert "pip config list" in result.stderr
    assert f"--from {ROOT}" in result.stderr
    assert "/simple/realtime-voice-satellite/" in asked


@pytest.mark.parametrize("source", ["nowhere", "README.md", "docs"])
def test_from_something_that_is_not_the_satellite_is_refused(tmp_path: Path, source: str) -> None:
    result = subprocess.run(
        ["bash", str(SCRIPT), "--from", str(ROOT / source), str(tmp_path / "venv")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"--from {ROOT / source}: not a clone of this repository" in result.stderr
    assert not (tmp_path / "venv").exists()
