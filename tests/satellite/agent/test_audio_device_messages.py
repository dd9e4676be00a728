"""The agent's own messages for the two sound-device failures a Pi owner meets first: PortAudio
missing (or not loading) and a device that another program holds. Each names the problem and the
fix, and the agent exits with 1.

PortAudio missing is real: the agent runs in a process whose loader finds no libportaudio, or finds
one that is not a library. A busy device needs hardware: the stand-in ``sounddevice`` raises what
PortAudio raises then (``Error opening InputStream: Device unavailable``, PaErrorCode -9985).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from realtime_voice_satellite.agent.audio_io import AudioDeviceError, DeviceSink, DeviceSource
from realtime_voice_satellite.cli import main
from tests.helpers.network import free_port

from ..harness import KEY
from ..setup.test_doctor import portaudio_unfindable, without_portaudio
from . import fake_sounddevice as fake

pytestmark = pytest.mark.timeout(120)


def config_file(tmp_path: Path) -> Path:
    config = tmp_path / "satellite.yaml"
    config.write_text(
        f"name: t\nlink: {{host: 127.0.0.1, port: {free_port()}, access_key: {KEY}}}\n"
        "zeroconf: {enabled: false}\naudio: {input_device: USB, output_device: USB}\n"
    )
    return config


def run_agent(
    tmp_path: Path, prefix: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "realtime_voice_satellite.cli",
            "satellite",
            "--config",
            str(config_file(tmp_path)),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **env},
    )


@pytest.mark.skipif(portaudio_unfindable() is None, reason="needs root and unshare")
def test_the_agent_without_portaudio_says_install_it(tmp_path: Path) -> None:
    result = run_agent(tmp_path, without_portaudio(tmp_path), {"PATH": str(tmp_path)})
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "realtime-voice satellite: sound devices need PortAudio, which could not be loaded "
        "(PortAudio library not found); install it: sudo apt install libportaudio2"
    )
    assert "Traceback" not in result.stderr


def test_a_portaudio_that_does_not_load_says_install_it(tmp_path: Path) -> None:
    """ldconfig's libportaudio.so.2 is found, but the loader takes LD_LIBRARY_PATH's first: a
    file that is not a library (as a broken install or another machine's library would be)."""
    broken = tmp_path / "lib"
    broken.mkdir()
    (broken / "libportaudio.so.2").write_text("not a library\n")
    result = run_agent(tmp_path, [], {"LD_LIBRARY_PATH": str(broken)})
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "realtime-voice satellite: sound devices need PortAudio, which could not be loaded ("
    ), result.stderr
    assert "libportaudio.so.2" in last
    assert last.endswith("; install it: sudo apt install libportaudio2")


@pytest.fixture
def busy_usb(monkeypatch: pytest.MonkeyPatch) -> fake.FakePortAudio:
    portaudio = fake.usb_headset_and_hdmi()
    portaudio.devices[1].busy = True
    monkeypatch.setitem(sys.modules, "sounddevice", fake.module(portaudio))
    return portaudio


BUSY = (
    "Device unavailable [PaErrorCode -9985]: the device is busy: another program holds it (a "
    "second satellite, PulseAudio or PipeWire, another service); stop that program "
    "('fuser -v /dev/snd/*' shows which) or choose another device"
)


async def test_a_busy_device_is_named_with_the_fix(busy_usb: fake.FakePortAudio) -> None:
    source = DeviceSource("USB")
    with pytest.raises(AudioDeviceError) as raised:
        await source.start()
    assert str(raised.value) == f"audio.input_device 'USB': Error opening InputStream: {BUSY}"
    sink = DeviceSink("USB")
    with pytest.raises(AudioDeviceError) as raised:
        await sink.start(lambda frames: None)
    assert str(raised.value) == f"audio.output_device 'USB': Error opening OutputStream: {BUSY}"


def test_the_agent_on_a_busy_device_exits_1_saying_so(
    tmp_path: Path, busy_usb: fake.FakePortAudio, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["satellite", "--config", str(config_file(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"realtime-voice satellite: audio.input_device 'USB': Error opening InputStream: {BUSY}"
    )


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        (fake.PortAudioError("Error opening InputStream: Device unavailable", -9985), "busy"),
        (fake.PortAudioError("Error starting stream: Device unavailable"), "busy"),  # no code
        (fake.PortAudioError("Invalid sample rate", -9997), "set audio.input_rate to one it takes"),
        (fake.PortAudioError("Invalid device", -9996), "(unplugged?)"),
        (fake.PortAudioError("Invalid number of channels", -9998), "'sysdefault'"),
        (fake.PortAudioError("Unanticipated host error", -9999), None),
        (ValueError("No input device matching 'x'"), None),
    ],
)
def test_portaudios_errors_and_their_fixes(error: Exception, fix: str | None) -> None:
    from realtime_voice_satellite.agent import portaudio

    explained = portaudio.explain(error, "input")
    assert explained.startswith(str(error))
    if fix is None:
        assert explained == str(error)
    else:
        assert fix in explained
