"""read_wav / write_wav / WavWriter: formats, downmix, errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from realtime_voice_satellite.audio import WavError, WavWriter, read_wav, write_wav
from tests.helpers import audio


def test_round_trip(tmp_path: Path) -> None:
    x = audio.tone16(1000, 0.1, 44_100, 20_000)
    write_wav(tmp_path / "a.wav", x, 44_100)
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 44_100
    np.testing.assert_array_equal(x, y)


def test_float_samples_are_scaled_and_clipped(tmp_path: Path) -> None:
    write_wav(tmp_path / "f.wav", np.array([0.0, 0.5, -0.5, 2.0, -2.0], np.float32), 16_000)
    y, _ = read_wav(tmp_path / "f.wav")
    assert y.tolist() == [0, 16384, -16384, 32767, -32768]


def test_stereo_is_downmixed(tmp_path: Path) -> None:
    left = np.full(100, 1000, np.int16)
    right = np.full(100, 3000, np.int16)
    data = np.stack((left, right), axis=1).astype("<i2").tobytes()
    y, rate = read_wav(audio.write_wav(tmp_path / "s.wav", data, 48_000, channels=2))
    assert rate == 48_000
    assert y.dtype == np.int16
    assert y.tolist() == [2000] * 100


@pytest.mark.parametrize(
    ("width", "data", "expected"),
    [
        (1, bytes([128, 255, 0]), [0, 127 << 8, -32768]),
        (3, bytes([0x00, 0x00, 0x40, 0xFF, 0xFF, 0xFF]), [0x4000, -1]),
        (4, np.array([1 << 30, -(1 << 31)], "<i4").tobytes(), [1 << 14, -32768]),
    ],
)
def test_other_sample_widths(tmp_path: Path, width: int, data: bytes, expected: list) -> None:
    y, _ = read_wav(audio.write_wav(tmp_path / "w.wav", data, 8000, width=width))
    assert y.dtype == np.int16
    assert y.tolist() == expected


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(WavError, match=r"missing\.wav: no such file"):
        read_wav(tmp_path / "missing.wav")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"this is not a wav file at all")
    with pytest.raises(WavError, match=r"junk\.wav: not a readable PCM WAV"):
        read_wav(junk)
    with pytest.raises(WavError, match="is a directory"):
        read_wav(tmp_path)


def test_writer_file_is_valid_while_it_grows(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    with WavWriter(path, 24_000) as writer:
        writer.write(np.ones(240, np.int16))
        y, rate = read_wav(path)  # readable before close
        assert (rate, len(y)) == (24_000, 240)
        writer.write(np.full(480, 7, "<i2").tobytes())
        assert len(read_wav(path)[0]) == 720
        assert writer.frames_written == 720
    with pytest.raises(WavError, match="closed"):
        writer.write(np.ones(10, np.int16))
    with pytest.raises(WavError, match="cannot write"):
        WavWriter(tmp_path / "no" / "such" / "dir.wav", 16_000)
