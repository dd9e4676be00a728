"""The machines the satellite runs on: 64-bit x86-64 and aarch64 (a Pi 3, 4, 5 or Zero 2 W with
64-bit Raspberry Pi OS), where the TFLite runtime of the wake-word engines exists.

``scripts/install-satellite`` makes the same check before it installs anything (in bash, since it
runs before any of this is installed); a test keeps the package lists of the two in step.
"""

from __future__ import annotations

import platform
import struct

# platform.machine() of the 64-bit machines pyopen-wakeword and pymicro-wakeword ship a runtime for
SUPPORTED_MACHINES = ("x86_64", "AMD64", "amd64", "aarch64", "arm64")
# the satellite's compiled dependencies without 32-bit ARM (armv7l) wheels on PyPI
NO_32_BIT_WHEELS = ("numpy", "soxr", "pymicro-features", "pyspeex-noise", "pyyaml", "cffi")


def this_machine() -> tuple[str, int]:
    """(``platform.machine()``, bits of this Python): a 32-bit Python on a 64-bit kernel, as on
    32-bit Raspberry Pi OS with its 64-bit kernel, says aarch64 with 32 bits."""
    return platform.machine(), struct.calcsize("P") * 8


def unsupported_reason(machine: str, bits: int) -> str | None:
    """Why the satellite cannot run on ``machine`` with a ``bits``-bit Python; None: it can."""
    if bits != 64:
        return (
            f"32-bit is not supported (this Python is {bits}-bit on {machine}); the satellite "
            "needs a 64-bit operating system, e.g. 64-bit Raspberry Pi OS (Pi 3, 4, 5, Zero 2 W). "
            f"PyPI has no 32-bit ARM wheels of {', '.join(NO_32_BIT_WHEELS)}, and the TFLite "
            "runtime that pyopen-wakeword and pymicro-wakeword ship exists for 64-bit machines "
            'only (on armv7l they install an x86-64 library, which fails with "wrong ELF '
            'class"); piwheels has 32-bit builds of the former, not of the runtime.'
        )
    if machine not in SUPPORTED_MACHINES:
        return (
            f"pyopen-wakeword and pymicro-wakeword have no runtime for this platform ({machine}): "
            "they ship TFLite for x86-64 and aarch64 only"
        )
    return None
