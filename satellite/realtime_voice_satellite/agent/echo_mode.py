"""``audio.echo_cancellation``: auto, on or off, and what ``auto`` makes of a device.

``auto`` turns echo cancellation on unless the input device's name says it cancels echo itself:
an OS echo-cancel source (PipeWire's or PulseAudio's ``echo-cancel`` module) or a board with
hardware echo cancellation (XMOS XVF3000/3800 on ReSpeaker USB arrays and the Voice PE). With a
default device (``input_device`` null) the name says nothing: set ``off`` yourself when the
default source is already echo-cancelled (docs/satellite.md). ``auto`` also stays off, with a
warning, when pywebrtc-audio or pymicro-vad is missing; ``on`` then fails with a message saying
what to install.
"""

from __future__ import annotations

import logging
import re

from ..audio import aec3
from . import voice
from .config import AudioConfig, ConfigError

_LOGGER = logging.getLogger(__name__)

# names (case-insensitive) of inputs that are echo-cancelled already
ECHO_CANCELLED_INPUT = re.compile(
    r"echo.?cancel|\baec\b|xvf\s?3[08]00|respeaker.*usb|voice.?pe", re.I
)


def input_cancels_echo(audio: AudioConfig) -> bool:
    """The input device's name says it cancels echo itself (what HA is told, with the canceller:
    the audio it gets is echo-cancelled either way)."""
    device = audio.input_device
    return isinstance(device, str) and ECHO_CANCELLED_INPUT.search(device) is not None


def echo_cancellation_on(audio: AudioConfig) -> bool:
    mode = audio.echo_cancellation
    if mode == "off":
        return False
    missing = [
        reason
        for reason in (
            aec3.unavailable_reason(),
            None if voice.available() else "pymicro-vad is not installed",
        )
        if reason is not None
    ]
    if mode == "on":
        if missing:
            raise ConfigError(
                f"audio.echo_cancellation: on, but {'; '.join(missing)} "
                "(both come with the satellite package: run scripts/install-satellite again)"
            )
        return True
    device = audio.input_device
    if input_cancels_echo(audio):
        _LOGGER.info(
            "echo cancellation off: input device %r cancels echo itself "
            "(audio.echo_cancellation: on to use it anyway)",
            device,
        )
        return False
    if missing:
        _LOGGER.warning(
            "echo cancellation off: %s; only the wake word interrupts an answer",
            "; ".join(missing),
        )
        return False
    return True
