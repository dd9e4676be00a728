"""The satellite's echo cancellation in a Python that also has Home Assistant's pins: HA pins
pyspeex-noise 1.x, whose native AudioProcessor type clashes with pywebrtc-audio's. The clash is named,
and a satellite on `auto` runs without echo cancellation instead of failing (a Pi installs 2.x)."""

from __future__ import annotations

from importlib.metadata import version

import pyspeex_noise  # noqa: F401 - loaded first, as when HA's pipeline has used it

from realtime_voice_satellite.agent.config import AudioConfig
from realtime_voice_satellite.agent.echo_mode import echo_cancellation_on
from realtime_voice_satellite.audio import aec3


def test_the_clash_is_named_and_auto_goes_on_without_it() -> None:
    aec3.unavailable_reason.cache_clear()
    try:
        reason = aec3.unavailable_reason()
        if int(version("pyspeex-noise").split(".")[0]) < 2:
            assert reason is not None
            assert "does not load" in reason
            assert "pyspeex-noise 1.x, install 2.x" in reason
            assert echo_cancellation_on(AudioConfig(echo_cancellation="auto")) is False
        else:
            assert reason is None
    finally:
        aec3.unavailable_reason.cache_clear()
