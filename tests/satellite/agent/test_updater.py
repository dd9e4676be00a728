"""The satellite updating itself (updater.py, the link's ``update``): real pip against a local PEP 503
index on 127.0.0.1, installing into a virtual environment of the test's own.

The index holds small stand-ins of releases 1.0.0 and 2.0.0 of ``realtime-voice-satellite`` (a
package with only its ``__version__``): what is tested here is pip, the index and the environment,
which do not depend on what the package holds (tests/e2e/test_e2e_update.py upgrades the real
agent from a real older wheel). pip reads only what the test gives it (``PIP_CONFIG_FILE`` is
``/dev/null``): ``PIP_INDEX_URL``, as a satellite's pip.conf or environment would name its index.
A full disk and a read-only environment are made with a small tmpfs (needs root, as in CI).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import hashlib
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from realtime_voice_satellite.agent.updater import (
    UPDATES_ENV,
    Installer,
    UpdateError,
    pip_failure,
)
from realtime_voice_satellite.audio import write_wav
from realtime_voice_satellite.link import protocol as p

from ...helpers.waiting import wait_until
from ...release_build import release_module
from ..harness import running_satellite, silence

DISTRIBUTION = "realtime-voice-satellite"


def stand_in_wheel(folder: Path, version: str) -> Path:
    """A wheel of ``realtime-voice-satellite`` ``version`` holding only its package's version."""
    files = {
        "realtime_voice_satellite/__init__.py": f'__version__ = "{version}"\n',
        f"realtime_voice_satellite-{version}.dist-info/METADATA": (
            f"Metadata-Version: 2.1\nName: {DISTRIBUTION}\nVersion: {version}\n"
            "Requires-Python: >=3.11\n"
        ),
        f"realtime_voice_satellite-{version}.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = f"realtime_voice_satellite-{version}.dist-info/RECORD"
    lines = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        lines.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    files[record] = "\n".join([*lines, f"{record},,"]) + "\n"
    path = folder / f"realtime_voice_satellite-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A PEP 503 index of releases 1.0.0 and 2.0.0 on 127.0.0.1: its URL and the paths asked."""
    rv = release_module()
    dist = tmp_path_factory.mktemp("index")
    rv.write_index(dist, [stand_in_wheel(dist, "1.0.0"), stand_in_wheel(dist, "2.0.0")])
    with rv.serve(dist) as (url, asked):
        yield f"{url}/simple/", asked


@pytest.fixture
def pip_env(monkeypatch: pytest.MonkeyPatch, index: tuple[str, list[str]]) -> str:
    """pip as a satellite would have it configured: this index, nothing else."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", index[0])
    monkeypatch.setenv("PIP_RETRIES", "1")
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT", UPDATES_ENV):
        monkeypatch.delenv(name, raising=False)
    return index[0]


def make_venv(where: Path) -> Path:
    """A virtual environment with release 1.0.0 installed from the index; its Python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"{DISTRIBUTION}==1.0.0"],
        check=True, timeout=120,
    )  # fmt: skip
    assert installed(python) == "1.0.0"
    return python


def installed(python: Path) -> str:
    """The version the environment runs: what a new start of the agent would import."""
    return subprocess.run(
        [str(python), "-c", "import realtime_voice_satellite as m; print(m.__version__)"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip


@pytest.fixture
def venv(tmp_path: Path, pip_env: str) -> Path:
    return make_venv(tmp_path / "venv")


@contextlib.contextmanager
def small_disk(where: Path, size: str = "64m") -> Iterator[Path]:
    """A tmpfs of ``size`` at ``where`` (root only)."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (root is needed): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def run_install(python: Path, version: str) -> tuple[list[p.UpdateProgress], UpdateError | None]:
    reports: list[p.UpdateProgress] = []
    try:
        asyncio.run(Installer(str(python)).install(version, reports.append))
    except UpdateError as err:
        return reports, err
    return reports, None


def test_installs_exactly_the_version_asked_for_from_pips_index(
    venv: Path, index: tuple[str, list[str]]
) -> None:
    reports, error = run_install(venv, "2.0.0")
    assert error is None
    assert installed(venv) == "2.0.0"
    assert any(
        path.endswith("/realtime_voice_satellite-2.0.0-py3-none-any.whl") for path in index[1]
    )
    progress = [r.progress for r in reports]
    assert progress[0] == 0
    assert progress == sorted(progress)  # it only goes forward
    assert progress[-1] == 90  # "Successfully installed"; 100 is the restart
    assert {r.stage for r in reports} == {"installing"}
    assert {r.version for r in reports} == {"2.0.0"}


def test_a_version_the_index_does_not_have_leaves_the_running_one(venv: Path) -> None:
    _reports, error = run_install(venv, "3.0.0")
    assert error is not None
    assert str(error).startswith(
        "the package index has no such version: pip could not install "
        "realtime-voice-satellite==3.0.0: "
    )
    assert "No matching distribution found for realtime-voice-satellite==3.0.0" in str(error)
    assert installed(venv) == "1.0.0"


def test_an_index_that_is_down_is_named(venv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple/")  # discard: nothing listens
    _reports, error = run_install(venv, "2.0.0")
    assert error is not None
    assert str(error).startswith("the package index cannot be reached: pip could not install")
    assert installed(venv) == "1.0.0"


def test_a_full_disk_leaves_the_running_version_whole(tmp_path: Path, pip_env: str) -> None:
    """pip fails writing the new files and puts the old ones back: the satellite still starts."""
    with small_disk(tmp_path / "disk") as disk:
        python = make_venv(disk / "venv")
        with contextlib.suppress(OSError), (disk / "filler").open("wb") as filler:
            while True:  # until ENOSPC
                filler.write(bytes(1 << 20))
                filler.flush()
        with pytest.raises(OSError, match="No space left") as full:
            (disk / "one-more").write_bytes(bytes(1 << 16))
        assert full.value.errno == errno.ENOSPC
        _reports, error = run_install(python, "2.0.0")
        assert error is not None
        assert str(error).startswith("the satellite's disk is full: pip could not install")
        assert "No space left on device" in str(error)
        assert installed(python) == "1.0.0"


def test_an_environment_that_is_not_writable_is_refused_before_pip(
    tmp_path: Path, pip_env: str, index: tuple[str, list[str]]
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        python = make_venv(disk / "venv")
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        asked = len(index[1])
        reports, error = run_install(python, "2.0.0")
        assert error is not None
        assert str(error).startswith("the satellite's environment is not writable: ")
        assert str(disk / "venv" / "lib") in str(error)
        assert "-m pip install realtime-voice-satellite==2.0.0" in str(error)
        assert reports == []
        assert index[1][asked:] == []  # pip never ran
        assert installed(python) == "1.0.0"


def test_a_container_image_refuses_and_says_update_the_image(
    venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UPDATES_ENV, "image")
    reports, error = run_install(venv, "2.0.0")
    assert error is not None
    assert "runs in a container, which updates with its image" in str(error)
    assert "docs/container.md" in str(error)
    assert reports == []
    assert installed(venv) == "1.0.0"


def test_only_a_release_version_reaches_pip(index: tuple[str, list[str]]) -> None:
    """The installer checks the version itself too (the link did already): an option, a URL or a
    range never becomes part of pip's command line."""
    asked = len(index[1])
    for version in ("2.0", "2.0.0 --index-url=http://evil/", ">=2.0.0", "v2.0.0"):
        reports, error = run_install(Path(sys.executable), version)
        assert str(error) == f"{version!r} is not a release version"
        assert reports == []
    assert index[1][asked:] == []


def test_pip_installing_elsewhere_is_not_taken_for_an_update(
    venv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pip configuration that sends installs elsewhere (here ``target``): pip succeeds, but the
    environment the agent runs from still has the old version, so the agent does not restart into
    it; the error says so, with pip's last words."""
    monkeypatch.setenv("PIP_TARGET", str(tmp_path / "elsewhere"))
    reports, error = run_install(venv, "2.0.0")
    assert error is not None
    assert str(error).startswith(
        "pip installed realtime-voice-satellite==2.0.0, but the environment has version 1.0.0:"
    )
    assert "Successfully installed realtime-voice-satellite-2.0.0" in str(error)
    assert reports[-1].progress == 90
    assert installed(venv) == "1.0.0"
    assert (tmp_path / "elsewhere" / "realtime_voice_satellite").is_dir()


@dataclass
class StalledIndex:
    """An index that takes pip's connections and never answers (a mirror that hangs)."""

    url: str = ""
    connections: int = 0
    closed: int = 0
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


@contextlib.asynccontextmanager
async def stalled_index() -> AsyncIterator[StalledIndex]:
    held = StalledIndex()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.connections += 1
        held.writers.append(writer)  # kept open: no answer, no close
        await reader.read()  # until pip's side closes
        held.closed += 1

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    held.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/simple/"
    try:
        yield held
    finally:
        for writer in held.writers:
            writer.close()
        server.close()


async def test_an_index_that_hangs_is_given_up_after_the_time_allowed(
    venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with stalled_index() as index:
        monkeypatch.setenv("PIP_INDEX_URL", index.url)
        reports: list[p.UpdateProgress] = []
        with pytest.raises(UpdateError) as error:
            await Installer(str(venv), timeout_s=3).install("2.0.0", reports.append)
        assert str(error.value) == (
            "pip did not install realtime-voice-satellite==2.0.0 within 3 s"
        )
        assert index.connections >= 1  # pip was waiting on it
        await wait_until(lambda: index.closed == index.connections)  # pip is gone, not left on
    assert installed(venv) == "1.0.0"


async def test_pip_does_not_go_on_alone_when_the_agent_stops(
    venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with stalled_index() as index:
        monkeypatch.setenv("PIP_INDEX_URL", index.url)
        install = asyncio.create_task(Installer(str(venv)).install("2.0.0", lambda _: None))
        await wait_until(lambda: index.connections >= 1, within=60)
        install.cancel()  # the agent stopping during the update
        with pytest.raises(asyncio.CancelledError):
            await install
        await wait_until(lambda: index.closed == index.connections)
    assert installed(venv) == "1.0.0"


def test_pips_failures_name_their_cause() -> None:
    """The causes pip's own messages show, as found with pip 23 to 25."""
    cases = {
        "ERROR: Could not install packages due to an OSError: [Errno 13] Permission denied: "
        "'/opt/x'": "the satellite's environment is not writable",
        "WARNING: Retrying (Retry(total=0, connect=None, read=None, redirect=None, status=None)) "
        "after connection broken by 'NewConnectionError(...)': /simple/x/": (
            "the package index cannot be reached"
        ),
        "ERROR: something else": "pip failed",
    }
    for line, cause in cases.items():
        assert pip_failure("2.0.0", [line, "ERROR: last words"]).startswith(f"{cause}: ")
    looked = pip_failure(
        "2.0.0",
        [
            "Looking in indexes: http://mirror/simple/",
            "ERROR: No matching distribution found for x",
        ],
    )
    assert looked.endswith("(Looking in indexes: http://mirror/simple/)")


# --- the link's messages ------------------------------------------------------------------


def test_the_update_messages_round_trip() -> None:
    for command in (p.Update("1.2.3"), p.Update("0.2.0rc1")):
        assert p.parse(command.to_json(), p.COMMANDS) == command
    for event in (
        p.UpdateProgress("1.2.3", "installing", 30),
        p.UpdateProgress("1.2.3", "installing"),
        p.UpdateProgress("1.2.3", "restarting", 100),
        p.UpdateProgress("1.2.3", "failed", error="the disk is full"),
    ):
        assert p.parse(event.to_json(), p.EVENTS) == event


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        # only a release's version reaches pip: never an option, a URL, a range or a path
        (
            '{"type":"update","version":"--index-url=http://evil/"}',
            "update.version: expected a release version",
        ),
        ('{"type":"update","version":">=1.0"}', "update.version: expected a release version"),
        ('{"type":"update","version":"1.2"}', "update.version: expected a release version"),
        ('{"type":"update","version":"1.2.3 "}', "update.version: expected a release version"),
        ('{"type":"update","version":"../x.whl"}', "update.version: expected a release version"),
        ('{"type":"update","version":1}', "update.version: expected str, got 1"),
        ('{"type":"update"}', "update.version: missing"),
        ('{"type":"update","version":"1.2.3","index":"x"}', "update.index: unknown key"),
    ],
)
def test_an_update_command_takes_only_a_release_version(frame: str, message: str) -> None:
    with pytest.raises(p.ProtocolError, match=re.escape(message)):
        p.parse(frame, p.COMMANDS)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('{"type":"update_progress","version":"1.2.3","stage":"installing","progress":101}',
         "update_progress.progress: expected a number from 0 to 100, got 101"),
        ('{"type":"update_progress","version":"1.2.3","stage":"failed"}',
         "update_progress.error: given with stage 'failed' and only then"),
        ('{"type":"update_progress","version":"1.2.3","stage":"installing","error":"x"}',
         "update_progress.error: given with stage 'failed' and only then"),
        ('{"type":"update_progress","version":"1.2.3","stage":"done"}',
         "update_progress.stage: expected one of"),
    ],
)  # fmt: skip
def test_update_progress_is_checked(frame: str, message: str) -> None:
    with pytest.raises(p.ProtocolError, match=re.escape(message)):
        p.parse(frame, p.EVENTS)


# --- the agent: HA's command over the real link ----------------------------------------------


def quiet_wav(folder: Path) -> Path:
    path = folder / "silence.wav"
    write_wav(path, silence(30.0, 16_000), 16_000)
    return path


async def test_the_agent_reports_a_failed_update_and_keeps_serving(
    venv: Path, tmp_path: Path
) -> None:
    wav = quiet_wav(tmp_path)
    async with running_satellite(wav, tmp_path) as sat:
        sat.agent.installer = Installer(str(venv))
        await sat.client.update("3.0.0")
        failed = await sat.next(p.UpdateProgress, 60)
        while failed.stage != "failed":  # type: ignore[attr-defined]
            failed = await sat.next(p.UpdateProgress, 60)
        assert isinstance(failed, p.UpdateProgress)
        assert failed.version == "3.0.0"
        assert failed.error is not None
        assert "No matching distribution found" in failed.error
        assert not sat.agent.restart_requested.is_set()
        # still the old process, still serving
        await sat.client.set_volume(0.3)
        info = await sat.next(p.Info)
        assert isinstance(info, p.Info)
        assert info.volume == pytest.approx(0.3)
    assert installed(venv) == "1.0.0"


async def test_the_agent_installs_reports_progress_and_asks_to_restart(
    venv: Path, tmp_path: Path
) -> None:
    wav = quiet_wav(tmp_path)
    async with running_satellite(wav, tmp_path) as sat:
        sat.agent.installer = Installer(str(venv))
        await sat.client.update("2.0.0")
        stages = []
        while not stages or stages[-1].stage == "installing":
            event = await sat.next(p.UpdateProgress, 60)
            assert isinstance(event, p.UpdateProgress)
            stages.append(event)
        assert stages[-1] == p.UpdateProgress("2.0.0", "restarting", 100)
        assert [s.progress for s in stages][:1] == [0]
        await asyncio.wait_for(sat.agent.restart_requested.wait(), 5)
    assert installed(venv) == "2.0.0"


def test_restart_in_place_runs_the_same_command_line_as_the_same_process(tmp_path: Path) -> None:
    """os.execv of sys.orig_argv: the process id stays (systemd, a terminal and a container
    runtime keep it), the interpreter's flags and the arguments come back."""
    script = tmp_path / "again.py"
    script.write_text(
        "import os, sys\n"
        "from realtime_voice_satellite.agent.updater import restart_in_place\n"
        "print(os.getpid(), sys.flags.dont_write_bytecode, *sys.argv[1:], flush=True)\n"
        "if not os.environ.get('AGAIN'):\n"
        "    os.environ['AGAIN'] = '1'\n"
        "    restart_in_place()\n"
    )
    result = subprocess.run(
        [sys.executable, "-B", str(script), "--config", "x y.yaml"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    first, second = result.stdout.splitlines()
    assert first == second
    assert first.split()[1:] == ["1", "--config", "x", "y.yaml"]
