"""What goes wrong around a running satellite: the Realtime endpoint down at start, media that cannot
be played (a satellite that comes back with another access key: test_reauth.py)."""

from __future__ import annotations

import io
import socket
import subprocess
import wave

import numpy as np
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from custom_components.realtime_voice.media import decode_to_pcm24k
from tests.realtime_standin import StandinConfig, StandinServer

from .conftest import API_KEY, entry_for
from .link_satellite import LinkSatellite
from .waiting import load_entry, wait_until


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_realtime_endpoint_down_at_start_is_retried(
    hass: HomeAssistant, satellite: LinkSatellite, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "custom_components.realtime_voice.session_manager.SESSION_RETRY_DELAYS", (0.2,)
    )
    port = free_port()
    standin = StandinServer(StandinConfig(endpoint="ga", api_key=API_KEY), port=port)
    entry = entry_for(standin, satellite, url=f"ws://127.0.0.1:{port}/v1/realtime")
    await load_entry(hass, entry, wait_for_session=False)
    # The satellite works without the model; the model sensor says nothing yet.
    assert hass.states.get("switch.kitchen_mute").state == "off"
    assert hass.states.get("sensor.kitchen_model").state == "unknown"
    async with standin:
        await wait_until(lambda: entry.runtime_data.manager.session is not None)
        assert hass.states.get("sensor.kitchen_model").state == "gpt-realtime"
        assert await hass.config_entries.async_unload(entry.entry_id)


def test_media_other_than_wav_is_decoded_with_ffmpeg(tmp_path) -> None:
    source = tmp_path / "tone.wav"
    with wave.open(str(source), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(44_100)
        t = np.arange(44_100) / 44_100
        wav.writeframes((np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes())
    encoded = tmp_path / "tone.ogg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(source), "-c:a", "libvorbis", str(encoded)], check=True
    )
    pcm = decode_to_pcm24k(encoded.read_bytes(), "tone.ogg")
    assert len(pcm) == pytest.approx(24_000 * 2, rel=0.02)  # one second at 24 kHz
    samples = np.frombuffer(pcm, "<i2")
    assert np.abs(samples).max() > 4000  # the tone, not silence

    with pytest.raises(HomeAssistantError, match=r"Cannot decode garbage\.mp3"):
        decode_to_pcm24k(b"not audio at all" * 100, "garbage.mp3")


def test_unsupported_wav_says_why() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(bytes(800))
    with pytest.raises(HomeAssistantError, match="8 bit"):
        decode_to_pcm24k(buffer.getvalue(), "8bit.wav")


def test_media_without_ffmpeg_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("custom_components.realtime_voice.media.shutil.which", lambda _: None)
    with pytest.raises(HomeAssistantError, match="ffmpeg"):
        decode_to_pcm24k(b"ID3" + bytes(100), "song.mp3")
