"""``realtime-voice satellite`` as a process, on WAV files, with the real client as HA."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from realtime_voice_dev.corpus import espeak_available
from realtime_voice_satellite.audio import read_wav, write_wav
from realtime_voice_satellite.link import Audio, LinkConnectionError, SatelliteLinkClient
from realtime_voice_satellite.link import protocol as p
from realtime_voice_satellite.link.pairing import PairingError, pair, request_code
from tests.helpers.network import free_port
from tests.helpers.waiting import first_success, process_alive

from .harness import KEY, Script, locate, speech

pytestmark = pytest.mark.timeout(60)


async def run_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "realtime_voice_satellite.cli",
        "satellite",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_bad_config_exits_2_naming_key_and_line(tmp_path: Path) -> None:
    config = tmp_path / "sat.yaml"
    config.write_text(f"name: x\nlink:\n  access_key: {KEY}\n  port: 70000\n")
    process = await run_cli("--config", str(config))
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert (
        "sat.yaml:4: link.port: expected an integer from 1 to 65535, got 70000" in stderr.decode()
    )


async def test_a_retired_key_is_named_on_stderr_and_the_satellite_goes_on(tmp_path: Path) -> None:
    """conversation.follow_up_s (Home Assistant decides the follow-up window) no longer stops an
    old satellite.yaml: the satellite says that it ignores it, and runs."""
    config = tmp_path / "sat.yaml"
    config.write_text(
        f"name: x\nconversation:\n  follow_up_s: 5.0\nlink: {{state_dir: {tmp_path}}}\n"
    )
    process = await run_cli("--config", str(config), "--new-access-key")
    stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert stderr.decode() == (
        f"realtime-voice satellite: {config}:3: conversation.follow_up_s is no longer read, it is "
        "ignored: Home Assistant decides how long the satellite listens after an answer: its "
        "option 'Follow-up window' (Settings > Devices & services > the satellite > Configure); "
        "remove the line\n"
    )
    assert "A new access key was made" in stdout.decode()


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is needed to synthesize speech")
async def test_satellite_process_on_wav_files(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "sat.yaml"
    config.write_text(
        f"name: CLI test\nlink: {{host: 127.0.0.1, port: {port}, access_key: {KEY}}}\n"
        "zeroconf: {enabled: false}\nconversation: {chime: false}\naudio: {output_rate: 24000}\n"
    )
    wav = (
        Script()
        .pause(1.5)
        .say("hey jarvis")
        .pause(0.1)
        .say("turn on the light")
        .pause(0.5)
        .write("cli")
    )
    output = tmp_path / "out.wav"
    process = await run_cli(
        "--config", str(config), "--input-wav", str(wav), "--output-wav", str(output)
    )
    client = SatelliteLinkClient("127.0.0.1", port, KEY)
    try:
        # the process needs a moment to load the models
        info = await first_success(
            client.connect, Exception, within=20, alive=lambda: process_alive(process)
        )
        assert info.name == "CLI test"
        assert info.wake_words_available == ["hey_jarvis"]
        events = client.events()
        answer = speech("okay", p.AUDIO_RATE)
        async with asyncio.timeout(20):
            kinds = []
            async for event in events:
                kinds.append(type(event))
                if isinstance(event, Audio) and p.Wake in kinds:
                    await client.stop_listening()
                    await client.play_start("a1")
                    await client.play_audio(answer.astype("<i2").tobytes())
                    await client.play_end("a1")
                if isinstance(event, p.PlaybackFinished):
                    break
        assert p.Wake in kinds
        assert p.ListenEnd in kinds
    finally:
        await client.close()
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 10)
    assert process.returncode == 0
    played, rate = read_wav(output)
    assert rate == p.AUDIO_RATE
    start = locate(answer, played)[0]
    assert np.array_equal(played[start : start + len(answer)], answer)


async def test_missing_chime_file_is_a_config_error(tmp_path: Path) -> None:
    config = tmp_path / "sat.yaml"
    config.write_text(
        f"link: {{host: 127.0.0.1, port: {free_port()}, access_key: {KEY}}}\n"
        f"zeroconf: {{enabled: false}}\nconversation: {{chime_file: {tmp_path / 'nope.wav'}}}\n"
    )
    silence = tmp_path / "in.wav"
    write_wav(silence, np.zeros(1600, np.int16), 16000)
    process = await run_cli(
        "--config",
        str(config),
        "--input-wav",
        str(silence),
        "--output-wav",
        str(tmp_path / "o.wav"),
    )
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "conversation.chime_file:" in stderr.decode()
    assert "nope.wav" in stderr.decode()


async def _pairing_code(process: asyncio.subprocess.Process, port: int) -> str:
    """Ask the running satellite for its code (as HA's config flow does) and read it where file
    mode shows it: stdout."""
    async with asyncio.timeout(20):
        # until it listens, and has seen a --pair (it looks every second)
        await first_success(
            lambda: request_code("127.0.0.1", port),
            (LinkConnectionError, PairingError),
            within=20,
        )
        assert process.stdout is not None
        while line := (await process.stdout.readline()).decode():
            if line.startswith("Pairing code for Home Assistant: "):
                return line.split(": ", 1)[1].replace(" ", "").strip()
    raise AssertionError("no pairing code on stdout")


async def test_a_satellite_without_a_key_pairs_by_the_code_it_speaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No link.access_key: the first start makes a certificate and opens pairing mode; the code it
    speaks (into --output-wav) and prints (file mode) pairs HA, the key is stored owner-only, and
    nothing of it is logged. Restarted with its key, it refuses pairing until --pair; then
    --new-access-key still prints a key to type."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    port = free_port()
    config = tmp_path / "sat.yaml"
    silence_wav = tmp_path / "in.wav"
    played = tmp_path / "o.wav"
    write_wav(silence_wav, np.zeros(24_000, np.int16), 24_000)
    config.write_text(
        f"name: Generated\nlink: {{host: 127.0.0.1, port: {port}}}\nzeroconf: {{enabled: false}}\n"
    )
    files = ("--input-wav", str(silence_wav), "--output-wav", str(played))
    key_file = tmp_path / "access_key"
    process = await run_cli("--config", str(config), *files)
    try:
        code = await _pairing_code(process, port)
        key = await pair("127.0.0.1", port, code)
        assert key_file.read_text().strip() == key
        assert (key_file.stat().st_mode & 0o777) == 0o600
        assert ((tmp_path / "link-key.pem").stat().st_mode & 0o777) == 0o600
        info = await SatelliteLinkClient("127.0.0.1", port, key).connect()
        assert info.name == "Generated"
        await asyncio.sleep(5)  # the code, said twice, is played out
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = await process.communicate()
    log = stderr.decode()
    assert "pairing mode is open for 5 minutes (no access key yet)" in log
    assert code not in log
    assert key not in log + stdout.decode()
    samples, _ = read_wav(played)
    spoken = np.flatnonzero(np.abs(samples) > 300)
    assert len(spoken) > 24_000  # more than a second of it: the chime and twelve digits
    # with its key, a restart does not open pairing: a second HA is refused
    process = await run_cli("--config", str(config), *files)
    try:
        await first_success(
            lambda: SatelliteLinkClient("127.0.0.1", port, key).connect(),
            LinkConnectionError,
            within=20,
        )
        with pytest.raises(PairingError) as refused:
            await request_code("127.0.0.1", port)
        assert refused.value.code == "not_pairing"
        # --pair reaches the running satellite through its state directory
        request = await run_cli("--config", str(config), "--pair")
        out, _ = await request.communicate()
        assert request.returncode == 0
        assert "Pairing requested" in out.decode()
        again = await pair("127.0.0.1", port, await _pairing_code(process, port))
        assert again != key
        assert key_file.read_text().strip() == again
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = await process.communicate()
    log = stderr.decode()
    assert "pairing mode is open for 5 minutes (--pair)" in log
    assert "(no access key yet)" not in log

    process = await run_cli("--config", str(config), "--new-access-key")
    stdout, _ = await process.communicate()
    assert process.returncode == 0
    new_key = key_file.read_text().strip()
    assert new_key != again
    assert new_key in stdout.decode()
    # a key set in satellite.yaml wins, so a generated one would be ignored: refused
    config.write_text(f"link: {{access_key: {KEY}}}\n")
    process = await run_cli("--config", str(config), "--new-access-key")
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "link.access_key is set there" in stderr.decode()
    process = await run_cli("--config", str(config), "--pair")
    _, stderr = await process.communicate()
    assert process.returncode == 2
    assert "link.access_key is set in satellite.yaml" in stderr.decode()
