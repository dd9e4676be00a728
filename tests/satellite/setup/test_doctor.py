"""``realtime-voice satellite --doctor``: one line per check, each problem with its fix, exit 1.

The checks run for real on real files, sockets, directories and processes (a ``timedatectl`` of the
test's on PATH answers for systemd, which this machine does not run); the sound cards are the
stand-in ``sounddevice`` (fake_sounddevice.py), which answers as the real one does. A missing
PortAudio is real: a process whose loader cannot find libportaudio.
"""

from __future__ import annotations

import grp
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from realtime_voice_satellite import platforms
from realtime_voice_satellite.cli import main
from realtime_voice_satellite.setup import doctor
from realtime_voice_satellite.setup.doctor import Context, run_doctor
from tests.helpers.network import free_port

from ..agent import fake_sounddevice as fake
from ..harness import KEY

try:
    AUDIO_GID = grp.getgrnam("audio").gr_gid
except KeyError:  # no audio group here: the test that needs it is skipped
    AUDIO_GID = -1


@pytest.fixture
def pa(monkeypatch: pytest.MonkeyPatch) -> fake.FakePortAudio:
    portaudio = fake.usb_headset_and_hdmi()
    monkeypatch.setitem(sys.modules, "sounddevice", fake.module(portaudio))
    return portaudio


@pytest.fixture
def synchronised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A timedatectl that says the clock is synchronised (its answer is the file's content)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    answer = tmp_path / "ntp"
    answer.write_text("yes")
    script = bin_dir / "timedatectl"
    script.write_text(
        f'#!/bin/sh\n[ "$*" = "show -p NTPSynchronized --value" ] || exit 3\ncat "{answer}"\necho\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return answer


@pytest.fixture
def snd(tmp_path: Path) -> Path:
    """A /dev/snd of the test's (files where the Pi has character devices)."""
    directory = tmp_path / "snd"
    directory.mkdir()
    for name in ("controlC1", "pcmC1D0c", "pcmC1D0p"):
        (directory / name).write_text("")
    return directory


def write_config(tmp_path: Path, text: str = "") -> Path:
    config = tmp_path / "satellite.yaml"
    config.write_text(
        f"name: Kitchen\nlink: {{host: 127.0.0.1, port: {free_port()}, access_key: {KEY}}}\n" + text
    )
    return config


def run(config: Path, snd: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = run_doctor(Context(config, snd_dir=snd))
    return code, capsys.readouterr().out


def line(out: str, name: str) -> str:
    found = [text for text in out.splitlines() if text[5:].startswith(f"{name}:")]
    assert len(found) == 1, out
    return found[0]


def test_all_good_is_exit_0_with_one_ok_line_per_check(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, "audio: {input_device: USB, output_device: USB}\n")
    code, out = run(config, snd, capsys)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[-1] == "all is well"
    assert len(lines) - 1 == len(doctor.checks())
    assert all(text.startswith("OK   ") for text in lines[:-1]), out
    assert "-> fix" not in out
    assert line(out, "input device").endswith("1 'USB PnP Sound Device: Audio (hw:1,0)'")
    assert "48000 Hz" in line(out, "input rate")
    assert "synchronised" in line(out, "clock")
    assert line(out, "wake words").endswith("openwakeword: hey_jarvis")
    machine, bits = platforms.this_machine()
    assert f"{bits}-bit, {machine}" in line(out, "python")


def test_a_retired_key_is_named_in_the_config_check(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, "conversation: {follow_up_s: 5}\n")
    _, out = run(config, snd, capsys)
    assert line(out, "config").startswith(
        f"OK   config: {config} (satellite 'Kitchen'); {config}:3: conversation.follow_up_s is "
        "no longer read, it is ignored: Home Assistant decides"
    )


def test_a_configured_device_that_is_not_there_lists_what_is(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, "audio: {input_device: ReSpeaker}\n")
    code, out = run(config, snd, capsys)
    assert code == 1
    found = line(out, "input device")
    assert found.startswith("FAIL input device: audio.input_device: no input device 'ReSpeaker'")
    assert "No input device matching 'ReSpeaker'" in found
    assert "there are: 1 'USB PnP Sound Device: Audio (hw:1,0)'; 2 'sysdefault'; 3 'default'" in (
        found
    )
    assert "-> fix: set audio.input_device to one of these" in found
    assert line(out, "input rate").startswith("SKIP input rate: no input device")
    assert line(out, "output device").startswith("OK")  # the default
    assert out.splitlines()[-1] == "1 problem(s) found"


def test_no_microphone_at_all(
    tmp_path: Path,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    speakers_only = fake.FakePortAudio(
        [fake.FakeDevice("vc4-hdmi-0: MAI PCM i2s-hifi-0 (hw:0,0)", outputs=2)], default_output=0
    )
    monkeypatch.setitem(sys.modules, "sounddevice", fake.module(speakers_only))
    code, out = run(write_config(tmp_path), snd, capsys)
    assert code == 1
    assert line(out, "input device").startswith("FAIL input device: no input device at all")
    assert "arecord -l" in line(out, "input device")
    assert line(out, "output device").startswith("OK")


def test_a_rate_the_device_does_not_take(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, "audio: {output_device: hdmi, output_rate: 44100}\n")
    code, out = run(config, snd, capsys)
    assert code == 1
    found = line(out, "output rate")
    assert found.startswith(
        "FAIL output rate: 44100 Hz on 'vc4-hdmi-0: MAI PCM i2s-hifi-0 (hw:0,0)'"
    )
    assert "Invalid sample rate [PaErrorCode -9997]" in found
    assert "-> fix: set audio.output_rate to null (the device's own, 48000 Hz)" in found


def test_a_busy_device_is_named_with_the_fix(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pa.devices[1].busy = True
    config = write_config(tmp_path, "audio: {input_device: USB, output_device: USB}\n")
    code, out = run(config, snd, capsys)
    assert code == 1
    for kind, stream in (("input", "InputStream"), ("output", "OutputStream")):
        found = line(out, f"{kind} free")
        assert f"Error opening {stream}: Device unavailable [PaErrorCode -9985]" in found
        assert "the device is busy: another program holds it" in found
        assert "fuser -v /dev/snd/*" in found
        assert "sudo systemctl stop realtime-voice-satellite" in found


def test_the_link_port_taken(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = tmp_path / "satellite.yaml"
        config.write_text(f"link: {{host: 127.0.0.1, port: {port}}}\n")
        code, out = run(config, snd, capsys)
    assert code == 1
    found = line(out, "link port")
    assert found.startswith(f"FAIL link port: 127.0.0.1:{port} is taken by another program")
    assert f"sudo ss -tlnp 'sport = :{port}'" in found
    code, out = run(config, snd, capsys)  # let go: free again
    assert line(out, "link port").startswith(f"OK   link port: 127.0.0.1:{port} is free")


def test_a_host_that_is_not_this_machines(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "satellite.yaml"
    config.write_text("link: {host: 192.0.2.1}\n")  # TEST-NET-1: nobody's address
    code, out = run(config, snd, capsys)
    assert code == 1
    assert "cannot listen on 192.0.2.1:10800" in line(out, "link port")
    assert "-> fix: set link.host to 0.0.0.0" in line(out, "link port")


def test_the_clock_not_synchronised_or_in_the_past(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path)
    synchronised.write_text("no")
    run_doctor(Context(config, snd_dir=snd))
    found = line(capsys.readouterr().out, "clock")
    assert found.startswith("FAIL clock:")
    assert "not synchronised with a time server -> fix: sudo timedatectl set-ntp true" in found

    synchronised.write_text("yes")
    boot_of_a_pi_without_rtc = time.mktime((1970, 1, 1, 0, 10, 0, 0, 0, -1))
    run_doctor(Context(config, snd_dir=snd, now=lambda: boot_of_a_pi_without_rtc))
    found = line(capsys.readouterr().out, "clock")
    assert found.startswith("FAIL clock: the clock says 1970-01-01 00:10, which is in the past")
    assert "TLS certificates" in found


def test_a_clock_without_timedatectl_is_judged_by_its_date(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no timedatectl here
    _, out = run(write_config(tmp_path), snd, capsys)
    assert line(out, "clock").endswith("synchronisation unknown (no timedatectl answer)")
    assert line(out, "clock").startswith("OK")
    broken = tmp_path / "timedatectl"  # one that cannot be run at all
    broken.write_text("#!/nonexistent/interpreter\n")
    broken.chmod(0o755)
    _, out = run(write_config(tmp_path), snd, capsys)
    assert line(out, "clock").endswith("synchronisation unknown (no timedatectl answer)")


def test_an_invalid_config_gives_the_loaders_error(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "satellite.yaml"
    config.write_text("name: x\naudio:\n  volume: 3\n")
    code, out = run(config, snd, capsys)
    assert code == 1
    found = line(out, "config")
    assert f"FAIL config: {config}:3: audio.volume: expected a number from 0 to 1, got 3" in found
    command = Path(sys.executable).parent / "realtime-voice"  # the venv's bin is not on PATH
    assert f"write a new one: {command} satellite --setup --config {config}" in found
    assert line(out, "wake words").startswith("SKIP")
    assert line(out, "input device").startswith("OK")  # the defaults are still checked


def test_a_wake_word_model_that_does_not_load(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    snd: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = write_config(tmp_path, f"wake_word: {{models: [{tmp_path}/kitchen.tflite]}}\n")
    code, out = run(config, snd, capsys)
    assert code == 1
    found = line(out, "wake words")
    assert found.startswith("FAIL wake words:")
    assert "kitchen.tflite" in found
    assert "-> fix: use a built-in model name or an existing model file" in found


def test_no_sound_card_and_no_permission(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = run(write_config(tmp_path), tmp_path / "absent", capsys)
    assert code == 1
    found = line(out, "sound permission")
    assert "absent does not exist: the kernel sees no sound card" in found


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or AUDIO_GID < 0,
    reason="needs root to drop privileges, and an audio group",
)
@pytest.mark.parametrize(
    ("groups", "fix"),
    [
        ("--clear-groups", "sudo usermod -aG audio pi, then log out and in again"),
        (f"--groups={AUDIO_GID}", "the audio group must own {snd}: ls -l {snd}"),
    ],
)
def test_no_access_to_the_sound_devices_says_what_to_do(
    tmp_path: Path, groups: str, fix: str
) -> None:
    """A process without root's override of file permissions, on a /dev/snd whose device belongs
    to another owner and group: outside the audio group it is told to join it; in it, that the
    devices are not the audio group's."""
    snd = tmp_path / "snd"
    snd.mkdir()
    (snd / "controlC0").write_text("")
    os.chown(snd / "controlC0", 4321, 4321)
    (snd / "controlC0").chmod(0o660)
    code = (
        "from pathlib import Path\n"
        "from realtime_voice_satellite.setup.doctor import Context, check_sound_permission\n"
        f"print(check_sound_permission(Context(Path('x'), snd_dir=Path('{snd}'))).line())\n"
    )
    result = subprocess.run(
        ["setpriv", groups, "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "USER": "pi"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"FAIL sound permission: no access to {snd}/controlC0 (as pi) -> fix: "
        + fix.format(snd=snd)
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop privileges"
)
def test_a_state_directory_that_cannot_be_written(tmp_path: Path) -> None:
    """Without root's override of file permissions, in a directory of another owner."""
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chown(locked, 4321, 4321)
    locked.chmod(0o755)
    config = tmp_path / "s.yaml"
    config.write_text(f"link: {{state_dir: {locked}/state}}\n")
    code = (
        "from pathlib import Path\n"
        "from realtime_voice_satellite.setup.doctor import Context, check_state_dir\n"
        f"context = Context(Path('{config}'))\n"
        "context.load()\n"
        "print(check_state_dir(context).line())\n"
    )
    result = subprocess.run(
        ["setpriv", "--inh-caps=-all", "--bounding-set=-all", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "USER": "pi"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"FAIL state directory: {locked}/state is not writable for pi -> fix: sudo install -d "
        f"-o USER -m 700 {locked}/state (USER: the service's), or set link.state_dir to a "
        "directory of yours"
    )


def test_a_state_directory_to_be_made_is_fine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "s.yaml"
    config.write_text(f"link: {{state_dir: {tmp_path}/a/b}}\n")
    context = Context(config)
    context.load()
    assert doctor.check_state_dir(context).line() == (
        f"OK   state directory: {tmp_path}/a/b (to be made in {tmp_path})"
    )


def test_python_and_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    context = Context(Path("x"))
    assert doctor.check_python(context).status == "OK"
    # what a 32-bit Raspberry Pi OS reports (its kernel is 64-bit, its Python 32-bit)
    monkeypatch.setattr(platforms, "this_machine", lambda: ("aarch64", 32))
    result = doctor.check_python(context)
    assert result.status == "FAIL"
    assert result.detail.startswith("32-bit is not supported (this Python is 32-bit on aarch64)")
    assert result.fix == "reflash the SD card with 64-bit Raspberry Pi OS"


def test_the_cli_runs_the_doctor(
    tmp_path: Path,
    pa: fake.FakePortAudio,
    synchronised: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Through the console script's main(); /dev/snd is this machine's (which has no card)."""
    config = write_config(tmp_path, "audio: {input_device: USB, output_device: USB}\n")
    code = main(["satellite", "--doctor", "--config", str(config)])
    out = capsys.readouterr().out
    assert line(out, "input device").startswith("OK")
    sound = line(out, "sound permission")
    assert code == (0 if sound.startswith("OK") else 1)
    assert out.splitlines()[-1] == ("all is well" if code == 0 else "1 problem(s) found")


def portaudio_unfindable() -> list[str] | None:
    """A command prefix under which the loader finds no libportaudio (ld.so's cache empty, no
    compiler or linker for ctypes.util.find_library to ask): PortAudio is not installed."""
    tools = [shutil.which(tool) for tool in ("unshare", "sh", "mount")]
    if os.geteuid() != 0 or None in tools:
        return None
    unshare, sh, mount = tools
    script = f'{mount} --bind "$0" /etc/ld.so.cache && exec "$@"'
    return [str(unshare), "--mount", str(sh), "-c", script]


def without_portaudio(tmp_path: Path) -> list[str]:
    """The command prefix of :func:`portaudio_unfindable`, with its empty ld.so cache made."""
    prefix = portaudio_unfindable()
    assert prefix is not None
    empty = tmp_path / "ld.so.cache"
    empty.write_text("")
    return [*prefix, str(empty)]


@pytest.mark.skipif(portaudio_unfindable() is None, reason="needs root and unshare")
def test_without_portaudio_the_doctor_says_install_it(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = subprocess.run(
        [
            *without_portaudio(tmp_path),
            sys.executable,
            "-m",
            "realtime_voice_satellite.cli",
            "satellite",
            "--doctor",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PATH": str(tmp_path)},  # no gcc, no ld
    )
    assert result.returncode == 1, result.stderr
    found = line(result.stdout, "portaudio")
    assert found == (
        "FAIL portaudio: PortAudio could not be loaded (PortAudio library not found) -> fix: "
        "sudo apt install libportaudio2"
    )
    assert line(result.stdout, "input device") == "SKIP input device: no PortAudio"
