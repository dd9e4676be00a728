"""The TFLite runtime on machines where it is missing or half-working (issue #17): without the
XNNPACK delegate the models run on the default kernels; on 32-bit machines, and where the runtime
is a library for another machine, the wake word says so plainly instead of an ELF error."""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from realtime_voice_dev.corpus import Clip, espeak_available
from realtime_voice_satellite import platforms
from realtime_voice_satellite.audio import DspChain
from realtime_voice_satellite.cli import main
from realtime_voice_satellite.wakeword import Detection, WakeWordDetector, WakeWordError, tflite

ROOT = Path(__file__).resolve().parents[3]
JARVIS = Clip("hey jarvis", "en-us", 175)


def detections(detector: WakeWordDetector, audio: np.ndarray, rate: int) -> list[Detection]:
    """20 ms chunks through the real DSP chain, as from a microphone."""
    chain = DspChain(rate)
    found: list[Detection] = []
    for start in range(0, len(audio), rate // 50):
        found += detector.process(chain.process(audio[start : start + rate // 50]).wake_16k)
    return found + detector.process(chain.flush().wake_16k)


@pytest.fixture
def fresh_runtime() -> Iterator[None]:
    """The runtime looked up and loaded again by the test, and again after it (the cached functions
    are taken before the test may patch them: monkeypatch may be undone after this teardown)."""
    cached = (tflite.library_path, tflite._library, tflite.xnnpack_unavailable)
    for function in cached:
        function.cache_clear()
    yield
    for function in cached:
        function.cache_clear()


# --- XNNPACK -------------------------------------------------------------------------------------


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed")
def test_without_the_xnnpack_delegate_the_wake_word_runs_on_the_default_kernels(
    fresh_runtime: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    audio = JARVIS.render(48_000)
    with_xnnpack = WakeWordDetector(["hey_jarvis", "okay_nabu"])
    expected = detections(with_xnnpack, audio, 48_000)
    with_xnnpack.close()
    assert [d.model for d in expected] == ["hey_jarvis"]

    # The runtime's own answer where cpuinfo cannot read /sys (a chroot without it): NULL.
    lib = tflite._library()
    monkeypatch.setattr(lib, "TfLiteXNNPackDelegateCreate", lambda options: None)
    with caplog.at_level(logging.DEBUG):
        detector = WakeWordDetector(["hey_jarvis", "okay_nabu"])
        own_voice = WakeWordDetector(["hey_jarvis"])  # more interpreters, still one line
        found = detections(detector, audio, 48_000)
        detector.close()
        own_voice.close()
    assert [d.model for d in found] == ["hey_jarvis"]
    assert found[0].t == expected[0].t
    assert found[0].score == pytest.approx(expected[0].score, abs=1e-4)
    lines = [r.getMessage() for r in caplog.records if "XNNPACK" in r.getMessage()]
    assert len(lines) == 1, lines
    assert "default kernels" in lines[0]


# --- 32-bit and other machines -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "bits"), [("x86_64", 64), ("aarch64", 64), ("arm64", 64), ("AMD64", 64)]
)
def test_supported_machines(machine: str, bits: int) -> None:
    assert platforms.unsupported_reason(machine, bits) is None


@pytest.mark.parametrize(
    ("machine", "bits"), [("armv7l", 32), ("armv6l", 32), ("aarch64", 32), ("i686", 32)]
)
def test_32_bit_is_refused_with_the_reasons(machine: str, bits: int) -> None:
    reason = platforms.unsupported_reason(machine, bits)
    assert reason is not None
    assert reason.startswith(f"32-bit is not supported (this Python is 32-bit on {machine})")
    for package in ("numpy", "soxr", "pymicro-features", "pyspeex-noise", "pyyaml", "cffi"):
        assert package in reason
    assert "wrong ELF class" in reason
    assert "64-bit Raspberry Pi OS" in reason


def test_another_64_bit_machine_has_no_runtime() -> None:
    reason = platforms.unsupported_reason("riscv64", 64)
    assert reason is not None
    assert "riscv64" in reason
    assert "no runtime for this platform" in reason


def test_this_machine_is_what_python_says() -> None:
    import platform

    assert platforms.this_machine() == (platform.machine(), struct.calcsize("P") * 8)


@pytest.mark.parametrize("engine", ["openwakeword", "microwakeword"])
def test_on_32_bit_the_wake_word_says_so_before_loading_a_runtime(
    fresh_runtime: None, monkeypatch: pytest.MonkeyPatch, engine: str
) -> None:
    monkeypatch.setattr(platforms, "this_machine", lambda: ("armv7l", 32))
    model = "hey_jarvis" if engine == "openwakeword" else "okay_nabu"
    with pytest.raises(WakeWordError, match=r"^32-bit is not supported"):
        WakeWordDetector([model], engine=engine)  # type: ignore[arg-type]


def test_the_wakeword_command_on_32_bit_exits_2_with_the_reason(
    fresh_runtime: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    from realtime_voice_satellite.audio import write_wav

    wav = tmp_path / "silence.wav"
    write_wav(wav, np.zeros(16_000, np.int16), 16_000)
    monkeypatch.setattr(platforms, "this_machine", lambda: ("armv7l", 32))
    assert main(["wakeword", "--input", str(wav)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("realtime-voice wakeword: 32-bit is not supported")
    assert "Traceback" not in err


def elf32_library(path: Path) -> Path:
    """A 32-bit ARM shared-library header: what the dynamic loader of a 64-bit machine refuses
    with "wrong ELF class", as a 32-bit one refuses pyopen-wakeword's x86-64 library."""
    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)  # ELFCLASS32, little-endian, version 1
    header = struct.pack("<HHIIIIIHHHHHH", 3, 40, 1, 0, 0, 0, 0x5000400, 52, 32, 0, 40, 0, 0)
    path.write_bytes(ident + header + bytes(4096))
    return path


def test_a_runtime_for_another_machine_gives_the_no_runtime_message(
    fresh_runtime: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    library = elf32_library(tmp_path / "libtensorflowlite_c.so")
    monkeypatch.setattr(tflite, "library_path", lambda: library)
    with pytest.raises(WakeWordError) as caught:
        WakeWordDetector(["hey_jarvis"])
    message = str(caught.value)
    assert "pyopen-wakeword has no runtime for this platform" in message
    assert "wrong ELF class: ELFCLASS32" in message  # the loader's own words, for the curious
    assert str(library) in message


def test_the_install_script_gives_the_same_reasons() -> None:
    script = (ROOT / "scripts" / "install-satellite").read_text()
    for package in platforms.NO_32_BIT_WHEELS:
        assert package in script


def test_a_shared_front_end_names_what_is_missing_like_a_detector(
    fresh_runtime: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from realtime_voice_satellite.wakeword.detector import create_front_end

    real = platforms.this_machine
    monkeypatch.setattr(platforms, "this_machine", lambda: ("armv7l", 32))
    with pytest.raises(WakeWordError, match=r"^32-bit is not supported"):
        create_front_end(["hey_jarvis", "alexa"])
    monkeypatch.setattr(platforms, "this_machine", real)
    library = elf32_library(tmp_path / "libtensorflowlite_c.so")
    monkeypatch.setattr(tflite, "library_path", lambda: library)
    with pytest.raises(WakeWordError, match="pyopen-wakeword has no runtime for this platform"):
        create_front_end(["hey_jarvis", "alexa"])
