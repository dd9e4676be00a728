"""G.711 μ-law and A-law (ITU-T G.711) to and from PCM16, for the stand-in's ``audio/pcmu`` and
``audio/pcma`` sessions.

Hand-written with numpy: the standard library's ``audioop`` is gone since Python 3.13, and the
stand-in must run in Home Assistant's environment, where no other codec package can be added.
"""

from __future__ import annotations

import numpy as np

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159
# A-law segment ends (13-bit magnitudes)
_ALAW_SEGMENTS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int32)


def ulaw_encode(pcm: bytes) -> bytes:
    x = _samples(pcm) >> 2  # 14 bits, as the reference code (and audioop) encodes
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.floor(np.log2(magnitude)).astype(np.int32) - 5  # 8: beyond the last segment
    value = (np.minimum(segment, 7) << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> bytes:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = (((u & 0x0F) << 3) + _ULAW_BIAS << exponent) - _ULAW_BIAS
    return np.where(u & 0x80, -magnitude, magnitude).astype("<i2").tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    x = _samples(pcm) >> 3  # 13 bits
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    segment = np.searchsorted(_ALAW_SEGMENTS, x)  # 8: beyond the last segment
    shift = np.where(segment < 2, 1, segment)
    value = (np.minimum(segment, 7) << 4) | ((x >> shift) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)
    return ((value ^ mask) & 0xFF).astype(np.uint8).tobytes()


def alaw_decode(data: bytes) -> bytes:
    a = np.frombuffer(data, dtype=np.uint8).astype(np.int32) ^ 0x55
    segment = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(segment == 0, t + 8, (t + 0x108) << np.maximum(segment - 1, 0))
    return np.where(a & 0x80, t, -t).astype("<i2").tobytes()


ENCODERS = {"audio/pcmu": ulaw_encode, "audio/pcma": alaw_encode}
DECODERS = {"audio/pcmu": ulaw_decode, "audio/pcma": alaw_decode}
