"""What PortAudio's failures mean for a Pi owner: the message with the fix, for the agent
(``audio_io``) and for ``--setup`` and ``--doctor``."""

from __future__ import annotations

from .service import executable

INSTALL_PORTAUDIO = "install it: sudo apt install libportaudio2"
# PortAudio's error codes (portaudio.h, PaErrorCode) that a Pi owner meets, with the fix.
DEVICE_UNAVAILABLE = -9985
INVALID_DEVICE = -9996
INVALID_SAMPLE_RATE = -9997
INVALID_CHANNEL_COUNT = -9998
_FIXES = {
    DEVICE_UNAVAILABLE: (
        "the device is busy: another program holds it (a second satellite, PulseAudio or "
        "PipeWire, another service); stop that program ('fuser -v /dev/snd/*' shows which) "
        "or choose another device"
    ),
    INVALID_SAMPLE_RATE: (
        "the device does not take this sample rate: set audio.{kind}_rate to one it takes "
        "(e.g. 48000), or to null for its own"
    ),
    INVALID_CHANNEL_COUNT: (
        "the device does not take one channel, which the satellite uses: choose ALSA's "
        "'default' or 'sysdefault' device, which converts"
    ),
    INVALID_DEVICE: (
        "the device cannot be opened (unplugged?); "
        f"'{executable()} satellite --doctor --config FILE' lists the devices there are"
    ),
}


def missing(err: OSError) -> str:
    """Importing sounddevice failed: PortAudio is not installed, or does not load."""
    return f"sound devices need PortAudio, which could not be loaded ({err}); {INSTALL_PORTAUDIO}"


def error_code(err: BaseException) -> int | None:
    """PortAudio's code in a ``sounddevice.PortAudioError`` (its args: message, code, ...)."""
    args: tuple[object, ...] = err.args
    if len(args) >= 2 and isinstance(args[1], int):
        return int(args[1])
    return None


def fix_for(err: BaseException, kind: str) -> str | None:
    """What to do about a PortAudio error on an ``kind`` ("input"/"output") device; None when
    there is nothing specific to say."""
    code = error_code(err)
    if code is None and "Device unavailable" in str(err):
        code = DEVICE_UNAVAILABLE
    fix = _FIXES.get(code) if code is not None else None
    return fix.format(kind=kind) if fix is not None else None


def explain(err: BaseException, kind: str) -> str:
    """The error's text and, where known, the fix."""
    fix = fix_for(err, kind)
    return f"{err}: {fix}" if fix else str(err)
