"""Sound devices through the real sounddevice and PortAudio, on ALSA devices with a real clock.

There is no sound card here, so the test makes ALSA devices of its own: a JACK server with its
dummy driver (48 kHz, the clock a USB card would give) and ALSA's ``jack`` plugin
(libasound2-plugins) for four PCMs in an ALSA configuration of the test's own
(``ALSA_CONFIG_PATH``): ``satmic`` and ``satboard`` (microphones that hear the dummy card's
silence), ``satspk`` (a speaker) and ``satloop`` (a microphone wired to what ``satspk`` plays,
for known audio played and heard back). PortAudio's
ALSA host API lists them as it lists any ALSA PCM, as input-only or output-only devices whose
native rate is the server's (PortAudio's own guess would be 44.1 kHz), and its callbacks run on its
own threads at the pace of the clock. Nothing in audio_io is replaced.

A device that disappears is real too: the JACK server is killed while a stream runs (the stream
then stalls, as it does with ALSA drivers that go quiet instead of failing when a USB device is
pulled out), the device can then be neither listed nor opened, and it is back when the server is
started again. A device missing from the ALSA
configuration is the other way a device is not there. What stays on the stand-in in
test_audio_io.py: PortAudio ending a stream on its own (``finished_callback``). With this setup a
stream whose device is gone stalls, which the stall watch handles; PortAudio itself had not ended
such a stream after 120 s.

Needs ``jackd`` (jackd2) and libasound2-plugins, which scripts/setup installs; skipped without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import glob
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime_voice_satellite.agent import audio_io
from realtime_voice_satellite.agent.audio_io import (
    AudioDeviceError,
    DeviceSink,
    DeviceSource,
    native_rate,
)
from tests.helpers.waiting import wait_until

RATE = 48_000  # the JACK server's rate: the devices' native rate
PERIOD = 512  # JACK's block (at 320, PortAudio 19.6's latency probe fails: no devices listed)

# The devices: ALSA's jack plugin, one port each (one channel), wired to JACK ports.
PCMS = {
    "satmic": 'capture_ports { 0 "system:capture_1" }',
    "satboard": 'capture_ports { 0 "system:capture_1" }',  # a second microphone, listed next
    "satspk": 'playback_ports { 0 "system:playback_1" }',
    "satloop": 'capture_ports { 0 "satspk:out_000" }',
}
# PortAudio 19.6 asserts (and aborts the process) when every PCM in the configuration opens
# (pa_linux_alsa.c, "devIdx < numDeviceNames"); a real configuration always has some that do not.
UNOPENABLE = "pcm.satnone {\n    type hw\n    card 31\n}\n"

# PortAudio's JACK host API would join the test's JACK server too, and PortAudio 19.6 aborts the
# process (an assert in pa_jack.c's Terminate) when it is re-initialised after that server died,
# as audio_io's device rescan does. The satellite does not use JACK, so the test keeps that host
# API out with a client name one character longer than JACK accepts (PortAudio's check lets it
# through). PortAudio keeps the pointer: the buffers live as long as the module.
_NO_JACK_HOST_API = ctypes.create_string_buffer(b"x" * 64)
_PORTAUDIO_CLIENT_NAME = ctypes.create_string_buffer(b"PortAudio")


def _jack_plugin() -> str | None:
    found = glob.glob("/usr/lib/*/alsa-lib/libasound_module_pcm_jack.so") + glob.glob(
        "/usr/lib/alsa-lib/libasound_module_pcm_jack.so"
    )
    return found[0] if found else None


class Rig:
    """The JACK server and the ALSA configuration that make the devices, and PortAudio's view."""

    def __init__(self, sd: Any, tmp: Path) -> None:
        self.sd = sd
        self.tmp = tmp
        # One fixed name: JACK's shared registry has 8 server slots, and the slot of a killed
        # server (the unplug) is reclaimed only by a server of the same name; a name per run
        # used one up for good on every run ("Too many servers already active" after 8).
        self.server = "realtime-voice-test"
        self.config = tmp / "asound.conf"
        self.log = tmp / "jackd.log"
        self._jackd: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return {
            "ALSA_CONFIG_PATH": str(self.config),  # only the test's devices, not the system's
            "JACK_DEFAULT_SERVER": self.server,  # the ALSA jack plugin's server
            "JACK_NO_START_SERVER": "1",  # a device that is gone must not start a server
        }

    def write_config(self, pcms: tuple[str, ...] = tuple(PCMS)) -> None:
        """Replaces the file (a new inode: alsa-lib re-reads it even within the same second)."""
        text = "".join(
            f'pcm.{name} {{\n    type jack\n    name "{name}"\n    {PCMS[name]}\n}}\n'
            for name in pcms
        )
        new = self.config.with_suffix(".new")
        new.write_text(text + UNOPENABLE)
        os.replace(new, self.config)

    def start_server(self) -> None:
        assert self._jackd is None
        with self.log.open("ab") as log:
            self._jackd = subprocess.Popen(
                [
                    *("jackd", "--no-realtime", "--name", self.server, "-d", "dummy"),
                    *("-r", str(RATE), "-p", str(PERIOD), "-C", "1", "-P", "1"),
                ],
                stdout=log,
                stderr=log,
            )
        waited = subprocess.run(
            ["jack_wait", "--wait", "--timeout", "10"],
            env={**os.environ, **self.env()},
            capture_output=True,
            check=False,
        )
        if waited.returncode != 0 or self._jackd.poll() is not None:
            self.stop_server()
            pytest.fail(f"jackd did not start: {self.log.read_text(errors='replace')[-2000:]}")

    def stop_server(self, *, unplug: bool = False) -> None:
        """``unplug``: SIGKILL, no goodbye to the clients, as when a USB card is pulled out."""
        if self._jackd is None:
            return
        if unplug:
            self._jackd.kill()
        else:
            self._jackd.terminate()
        try:
            self._jackd.wait(10)
        except subprocess.TimeoutExpired:
            self._jackd.kill()
            self._jackd.wait()
        self._jackd = None

    def remove_server_files(self) -> None:
        """A killed server leaves its clients' semaphores in /dev/shm (names with the server's)."""
        for leftover in glob.glob(f"/dev/shm/jack*_{self.server}_*"):
            with contextlib.suppress(OSError):
                os.unlink(leftover)

    @property
    def running(self) -> bool:
        return self._jackd is not None

    def rescan(self) -> None:
        """PortAudio lists devices once per initialisation (audio_io does the same on reopen)."""
        self.sd._terminate()
        self.sd._initialize()

    def index(self, name: str) -> int:
        return next(d["index"] for d in self.sd.query_devices() if d["name"] == name)

    def ports(self) -> list[str]:
        listed = subprocess.run(
            ["jack_lsp"],
            env={**os.environ, **self.env()},
            capture_output=True,
            text=True,
            check=False,
        )
        return listed.stdout.split()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    if shutil.which("jackd") is None or shutil.which("jack_wait") is None or not _jack_plugin():
        pytest.skip("needs jackd (jackd2) and ALSA's jack plugin (libasound2-plugins)")
    try:
        import sounddevice
    except OSError as err:
        pytest.skip(f"needs PortAudio: {err}")
    portaudio = ctypes.CDLL(getattr(sounddevice, "_libname", None) or "libportaudio.so.2")
    set_jack_client_name = getattr(portaudio, "PaJack_SetClientName", lambda name: 0)
    rig = Rig(sounddevice, tmp_path_factory.mktemp("portaudio"))
    rig.write_config()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in rig.env().items():
            mp.setenv(key, value)
        set_jack_client_name(_NO_JACK_HOST_API)
        rig.start_server()
        try:
            rig.rescan()
            assert not any(api["name"].startswith("JACK") for api in sounddevice.query_hostapis())
            yield rig
        finally:
            rig.stop_server()
            rig.remove_server_files()
            set_jack_client_name(_PORTAUDIO_CLIENT_NAME)
    rig.rescan()  # the system's devices again for whatever runs next


@pytest.fixture
def devices(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """All devices plugged in and listed; nothing of audio_io's left open afterwards."""
    monkeypatch.setattr(audio_io, "REOPEN_INTERVAL_S", 0.2)
    monkeypatch.setattr(audio_io, "WATCH_INTERVAL_S", 0.05)
    if not rig.running:
        rig.start_server()
    rig.write_config()
    rig.rescan()
    yield rig
    assert not audio_io._OPEN, "a test left a device stream open"
    assert not [p for p in rig.ports() if p.split(":")[0] in PCMS], "a PCM is still open"


async def _read_for(source: DeviceSource, seconds: float) -> list[np.ndarray]:
    blocks = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        with contextlib.suppress(TimeoutError):
            blocks.append(await asyncio.wait_for(source.read(), left))
    return blocks


def test_devices_are_listed_with_their_native_rate(devices: Rig) -> None:
    assert native_rate("satmic", "input") == RATE
    assert native_rate("satspk", "output") == RATE
    assert native_rate(devices.index("satloop"), "input") == RATE
    source = DeviceSource("satmic")  # no rate given: the device's own
    assert (source.rate, source.block) == (RATE, RATE // 50)
    assert DeviceSink("satspk").rate == RATE
    with pytest.raises(AudioDeviceError, match=r"audio.output_device: .*'satmic'"):
        DeviceSink("satmic")  # a microphone only: not an output device


async def test_input_by_name_hands_blocks_to_the_loop_without_waiting_for_it(
    devices: Rig,
) -> None:
    source = DeviceSource("satmic", block_ms=20)
    await source.start()
    try:
        for _ in range(5):  # the stream has settled
            await asyncio.wait_for(source.read(), 2)
        started = time.monotonic()
        blocks = [await asyncio.wait_for(source.read(), 2) for _ in range(25)]
        elapsed = time.monotonic() - started
        time.sleep(0.3)  # noqa: ASYNC251 - the loop is busy: PortAudio's thread goes on all the same
        await asyncio.sleep(0)  # the hand-overs queued meanwhile run
        waiting = len(source._blocks)
    finally:
        await source.stop()
    assert all(b.dtype == np.int16 and b.shape == (RATE // 50,) for b in blocks)
    assert not any(b.any() for b in blocks)  # the dummy card's silence
    assert 0.3 < elapsed < 1.0  # 25 blocks of 20 ms at the pace of the device's clock
    assert waiting >= 8  # ~15 blocks were handed over while the loop was not looking
    assert source.overflows == 0


async def test_output_by_name_plays_what_an_input_by_index_hears(devices: Rig) -> None:
    """Known audio through the real speaker callback, the JACK graph and the microphone callback."""
    rng = np.random.default_rng(7)
    audio = rng.integers(-8000, 8000, RATE // 2).astype(np.int16)  # 0.5 s of noise
    audio[0] = 6000  # where it starts is unmistakable
    position = 0
    playing = False
    pulls = 0

    def pull(frames: int) -> np.ndarray | None:  # PortAudio's thread, like Player.read
        nonlocal position, pulls
        pulls += 1
        if not playing or position >= len(audio):
            return None
        block = audio[position : position + frames]
        position += frames
        return np.concatenate([block, np.zeros(frames - len(block), np.int16)])

    sink = DeviceSink("satspk", block_ms=20)
    await sink.start(pull)  # first: satloop's port is wired to satspk's at start
    source = DeviceSource(devices.index("satloop"), block_ms=20)
    assert source.rate == RATE
    await source.start()
    try:
        await _read_for(source, 0.2)
        playing = True
        heard = np.concatenate(await _read_for(source, 1.0))
    finally:
        await source.stop()
        await sink.stop()
    assert position >= len(audio)
    assert pulls > 25
    start = int(np.flatnonzero(np.abs(heard) > 1000)[0])
    got = heard[start : start + len(audio)].astype(int)
    assert len(got) == len(audio)
    # int16 -> float (JACK) -> int16: PortAudio scales by 32767/32768 and dithers
    assert np.abs(got - audio).max() <= 4
    assert np.abs(heard[start + len(audio) :]).max(initial=0) <= 4  # and then silence


async def test_a_device_missing_from_the_alsa_configuration_is_named(devices: Rig) -> None:
    devices.write_config(("satboard", "satspk", "satloop"))
    devices.rescan()
    with pytest.raises(
        AudioDeviceError, match=r"^audio.input_device: No input device matching 'satmic'$"
    ):
        DeviceSource("satmic")
    source = DeviceSource("satmic", RATE)  # a rate given: the error comes from opening
    with pytest.raises(AudioDeviceError, match=r"^audio.input_device 'satmic': .*'satmic'"):
        await source.start()
    assert not audio_io._OPEN
    devices.write_config()
    devices.rescan()
    source = DeviceSource("satmic")
    await source.start()
    try:
        assert len(await asyncio.wait_for(source.read(), 2)) == RATE // 50
    finally:
        await source.stop()


@pytest.mark.parametrize(("kind", "name"), [("input", "satmic"), ("output", "satspk")])
async def test_unplugged_mid_stream_is_reported_retried_and_reopened(
    devices: Rig,
    kind: str,
    name: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audio_io, "STALL_S", 0.6)
    caplog.set_level(logging.DEBUG, logger=audio_io.__name__)
    pulls = 0

    def pull(frames: int) -> None:  # PortAudio's thread
        nonlocal pulls
        pulls += 1

    stream: DeviceSource | DeviceSink
    if kind == "input":
        stream = DeviceSource(name, block_ms=20)
        await stream.start()
    else:
        stream = DeviceSink(name, block_ms=20)
        await stream.start(pull)

    async def audio_flows() -> None:
        if isinstance(stream, DeviceSource):
            stream._blocks.clear()  # only blocks from now on
            for _ in range(5):
                await asyncio.wait_for(stream.read(), 2)
            return
        before = pulls
        # counted on PortAudio's thread
        await wait_until(lambda: pulls >= before + 5, within=2, every=0.02)

    try:
        await audio_flows()
        devices.stop_server(unplug=True)
        await wait_until(
            lambda: f"{kind} device '{name}' is gone" in caplog.text, within=5, every=0.05
        )
        assert f"{kind} device '{name}' is gone (no audio for 0.6 s)" in caplog.text
        await asyncio.sleep(1.0)  # retries every 0.2 s, each with a fresh device list
        not_back = f"{kind} device '{name}' not back yet: No {kind} device matching '{name}'"
        assert caplog.text.count(not_back) >= 2
        assert stream.reopened == 0
        assert not audio_io._OPEN

        devices.start_server()
        # the watcher has no event to wait on
        await wait_until(lambda: stream.reopened > 0, within=10, every=0.05)
        assert f"{kind} device '{name}' is back" in caplog.text
        await audio_flows()
        assert stream.reopened == 1
    finally:
        await stream.stop()


async def test_an_index_or_default_that_portaudio_does_not_list_is_named(devices: Rig) -> None:
    """sounddevice says so with PortAudioError, not ValueError: the satellite must say which."""
    with pytest.raises(AudioDeviceError, match=r"^audio.input_device: no input device 99 "):
        DeviceSource(99)
    devices.write_config(("satspk",))  # no microphone at all
    devices.rescan()
    with pytest.raises(AudioDeviceError, match=r"^audio.input_device: no default input device "):
        DeviceSource(None)


async def test_a_device_given_by_index_is_reopened_as_itself_not_as_the_next_in_the_list(
    devices: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a device goes, the ones after it move up: its index is then another device's."""
    monkeypatch.setattr(audio_io, "STALL_S", 0.6)
    caplog.set_level(logging.DEBUG, logger=audio_io.__name__)
    index = devices.index("satmic")
    source = DeviceSource(index, block_ms=20)
    await source.start()
    try:
        await asyncio.wait_for(source.read(), 2)
        devices.stop_server(unplug=True)
        devices.write_config(("satboard", "satspk", "satloop"))  # satmic is gone, the rest is not
        devices.start_server()
        await wait_until(
            lambda: f"input device {index} is gone" in caplog.text, within=5, every=0.05
        )
        await asyncio.sleep(1.0)  # retries with fresh device lists
        assert devices.index("satboard") == index  # the index is satboard's now
        assert source.reopened == 0  # and satboard is not what was configured
        assert f"input device {index} not back yet: no input device named 'satmic'" in caplog.text

        devices.write_config(("satboard", "satspk", "satloop", "satmic"))  # back, listed last
        # the watcher has no event to wait on
        await wait_until(lambda: source.reopened > 0, within=10, every=0.05)
        assert devices.index("satmic") != index
        assert "satmic:in_000" in devices.ports()  # the JACK client of the stream opened
        assert "satboard:in_000" not in devices.ports()
        await asyncio.wait_for(source.read(), 2)
    finally:
        await source.stop()


@pytest.mark.timeout(60, method="thread")  # a stop() that waits blocks the loop: end the run
@pytest.mark.parametrize(("kind", "name"), [("input", "satmic"), ("output", "satspk")])
async def test_stop_returns_at_once_when_the_device_has_just_gone_quiet(
    devices: Rig, kind: str, name: str
) -> None:
    """The satellite stops before the stall watch has noticed: stop() must not wait on it.

    PortAudio's own stop waits for the device to take what is buffered: it took 47 s for the
    input and for ever for the output here, with the event loop blocked all the while.
    """
    stream: DeviceSource | DeviceSink
    if kind == "input":
        stream = DeviceSource(name)
        await stream.start()
        await asyncio.wait_for(stream.read(), 2)
    else:
        stream = DeviceSink(name)
        await stream.start(lambda frames: None)
        await asyncio.sleep(0.2)
    devices.stop_server(unplug=True)
    await asyncio.sleep(0.2)  # the stream has stalled; STALL_S is 1.5 s
    started = time.monotonic()
    await stream.stop()
    assert time.monotonic() - started < 0.5
    assert stream._stream is None
    assert not audio_io._OPEN
