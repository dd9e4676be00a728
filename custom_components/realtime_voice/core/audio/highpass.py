"""A 2nd-order Butterworth high-pass that carries its state across chunks.

Hand-written instead of ``scipy.signal.butter`` + ``lfilter`` because importing ``scipy.signal``
takes 2.5-5 s here (it pulls in scipy.stats), several times that on a Pi, for one biquad. The
coefficients are scipy's (bilinear transform with pre-warping); the tests check the output
against ``scipy.signal.lfilter``. The filter runs vectorized: split into a direct term and one
complex one-pole section ``s[n] = p s[n-1] + x[n]``, whose recurrence over a block is
``s[n] = p**n (p s[-1] + cumsum(p**-k x[k]))``. Blocks are at most ``_BLOCK`` samples long so that
``|p|**-k`` stays small enough for float64 to keep full precision.
"""

from __future__ import annotations

import math

import numpy as np

_BLOCK = 1024


def butterworth_highpass(cutoff_hz: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of the 2nd-order Butterworth high-pass, as ``scipy.signal.butter`` gives them."""
    k = math.tan(math.pi * cutoff_hz / rate)
    norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    b = np.array([norm, -2.0 * norm, norm])
    a = np.array([1.0, 2.0 * (k * k - 1.0) * norm, (1.0 - math.sqrt(2.0) * k + k * k) * norm])
    return b, a


class HighPass:
    def __init__(self, cutoff_hz: float, rate: int) -> None:
        b, a = butterworth_highpass(cutoff_hz, rate)
        self.b, self.a = b, a
        # poles: roots of z^2 + a1 z + a2; a Butterworth pair is complex conjugate
        disc = complex(a[1] * a[1] - 4.0 * a[2])
        self._pole = (-a[1] + disc**0.5) / 2.0
        pole_conj = self._pole.conjugate()
        self._direct = b[2] / a[2]
        rest0 = b[0] - self._direct
        rest1 = b[1] - self._direct * a[1]
        # residue of the first-order section 1 / (1 - p z^-1) at the pole p
        self._residue = (rest0 + rest1 / self._pole) / (1.0 - pole_conj / self._pole)
        n = np.arange(_BLOCK)
        self._powers = self._pole**n
        self._inverse_powers = self._pole ** (-n.astype(np.float64))
        # y = direct x + 2 Re(residue s): fold 2 * residue into the powers once
        self._output_powers = 2.0 * self._residue * self._powers
        self._scaled_output_powers: dict[float, np.ndarray] = {1.0: self._output_powers}
        self._state = 0j

    def reset(self) -> None:
        self._state = 0j

    def __call__(self, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Filter ``x`` (any real dtype) and multiply by ``scale``: int16 in, ``scale=1/32768``,
        gives float32 in [-1, 1) without a separate conversion pass. The state is kept in
        output units, so calls with different scales may follow one another."""
        output_powers = self._scaled_output_powers.get(scale)
        if output_powers is None:
            output_powers = self._scaled_output_powers[scale] = self._output_powers * scale
        direct = self._direct * scale
        out = np.empty(len(x), dtype=np.float32)
        for start in range(0, len(x), _BLOCK):
            block = x[start : start + _BLOCK]
            n = len(block)
            terms = self._inverse_powers[:n] * block
            # the carried state enters as the first term
            terms[0] += self._pole * self._state / scale
            sums = np.cumsum(terms, out=terms)
            self._state = complex(self._powers[n - 1] * sums[-1]) * scale
            y = (output_powers[:n] * sums).real
            y += direct * block
            out[start : start + n] = y
        return out
