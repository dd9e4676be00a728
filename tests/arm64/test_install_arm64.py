"""The satellite from a package index on arm64 (issue #24 item 2), as a Pi owner gets it:
scripts/install-satellite with Debian bookworm's Python 3.11 and pip 23.0.1 under qemu-user installs
realtime-voice-satellite of the integration's version by name from the index that PIP_INDEX_URL
names (a PEP 503 index on 127.0.0.1 holding the wheel that scripts/release built; the dependencies
from PyPI), and the installed agent, not the repository's, hears a wake word."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from realtime_voice_dev.corpus import Clip, espeak_available

from ..release_build import Release, release_module
from .conftest import ROOT

pytestmark = [
    pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech"),
    pytest.mark.timeout(900),
]

RUN = ROOT / "scripts" / "arm64-run"
WORK = ROOT / "tests" / ".cache" / "arm64-index"  # inside the repository: visible in the rootfs


def arm64(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """PROGRAM in the root filesystem without the repository's satellite on PYTHONPATH."""
    return subprocess.run(
        [str(RUN), "/usr/bin/env", "-u", "PYTHONPATH", *args],
        capture_output=True, text=True, check=False, timeout=600, env=env,
    )  # fmt: skip


def test_the_released_wheel_installs_by_name_from_an_index_and_hears(release: Release) -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    # what the script reads of the released repository (its version is the release's)
    for part in ("scripts/install-satellite", "satellite/pyproject.toml",
                 "custom_components/realtime_voice/manifest.json"):  # fmt: skip
        (WORK / "src" / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(release.root / part, WORK / "src" / part)
    venv = WORK / "venv"
    wav = WORK / "hey_jarvis.wav"
    shutil.copy(Clip("hey jarvis", "en-gb", 140, lead_s=1.5, tail_s=1.5).wav(), wav)
    try:
        with release_module().serve(release.dist) as (url, asked):
            result = arm64(
                str(WORK / "src" / "scripts" / "install-satellite"), "--python", "/usr/bin/python3",
                # no bytecode compiled at install (slow under qemu; Python compiles what it runs)
                str(venv), "--quiet", "--no-compile",
                env={**os.environ, "PIP_INDEX_URL": f"{url}/simple/",
                     "PIP_EXTRA_INDEX_URL": "https://pypi.org/simple"},
            )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"realtime-voice-satellite=={release.version} into {venv}" in result.stdout
        assert f"/{release.wheel.name}" in asked
        assert result.stdout.strip().endswith(f"realtime-voice {release.version}")
        where = arm64(
            str(venv / "bin" / "python"), "-c",
            "import platform, realtime_voice_satellite as s; print(platform.machine(), s.__file__)",
        )  # fmt: skip
        assert where.returncode == 0, where.stderr
        machine, package = where.stdout.split()
        assert machine == "aarch64"
        assert package.startswith(str(venv / "lib" / "python3.11" / "site-packages"))
        heard = arm64(
            str(venv / "bin" / "realtime-voice"), "wakeword", "--input", str(wav), "--json",
            "--engine", "openwakeword", "--model", "hey_jarvis",
        )  # fmt: skip
        assert heard.returncode == 0, heard.stderr
        assert [json.loads(line)["model"] for line in heard.stdout.splitlines()] == ["hey_jarvis"]
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
