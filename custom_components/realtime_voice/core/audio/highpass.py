"""A 2nd-order Butterworth high-pass that carries its state across chunks.

Hand-written instead of ``scipy.signal.butter`` + ``lfilter`` because importing ``scipy.signal``
takes 2.5-5 s here (it pulls in scipy.stats), several times that on a Pi, for one biquad. The
coefficients are scipy's (bilinear transform with pre-warping); the tests check the output
against ``scipy.signal.lfilter``.

The filter runs as three small float32 matrix products per chunk instead of a sample loop (numpy
has no IIR filter, and a cumulative sum, the other vectorized way, runs one element at a time).
The biquad is split into a direct term and one complex one-pole section ``s[n] = p s[n-1] + x[n]``
(``y = direct x + 2 Re(residue s)``), and the chunk into blocks of ``_B`` samples:

* within a block, the output is the block convolved with the first ``_B`` taps of the impulse
  response (a lower-triangular Toeplitz matrix), plus the decaying response to the state ``s``
  at the end of the block before (a ``2 x _B`` matrix of the state's real and imaginary part);
* the state at the end of each block is the block's own contribution (``x_block @ G``) plus the
  previous block's state times ``p**_B``; this short recurrence (one step per block) is a
  lower-triangular product of its own, ``S = L @ [state, u_0, u_1, ...]``.

All the matrices hold powers ``p**k`` with ``|p| < 1``: nothing grows, so float32 keeps the
output within a few float32 rounding steps of ``lfilter``'s float64. A chunk whose length is
not a multiple of ``_B`` is padded with zeros in front, the carried state rewound by as many
samples (``p**-pad``) so that it comes out right where the real samples begin.
"""

from __future__ import annotations

import math

import numpy as np

_B = 32  # samples per block: the Toeplitz product costs _B per sample, the recurrence 1/_B**2
_BLOCKS = 32  # blocks per matrix product; longer chunks are filtered _B * _BLOCKS at a time
_SPAN = _B * _BLOCKS


def butterworth_highpass(cutoff_hz: float, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, a) of the 2nd-order Butterworth high-pass, as ``scipy.signal.butter`` gives them."""
    k = math.tan(math.pi * cutoff_hz / rate)
    norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    b = np.array([norm, -2.0 * norm, norm])
    a = np.array([1.0, 2.0 * (k * k - 1.0) * norm, (1.0 - math.sqrt(2.0) * k + k * k) * norm])
    return b, a


def _as_real(c: complex) -> list[list[float]]:
    """Multiplication by ``c`` acting on ``[re, im]``."""
    return [[c.real, -c.imag], [c.imag, c.real]]


class HighPass:
    def __init__(self, cutoff_hz: float, rate: int) -> None:
        b, a = butterworth_highpass(cutoff_hz, rate)
        self.b, self.a = b, a
        # poles: roots of z^2 + a1 z + a2; a Butterworth pair is complex conjugate
        disc = complex(a[1] * a[1] - 4.0 * a[2])
        pole = (-a[1] + disc**0.5) / 2.0
        direct = b[2] / a[2]
        rest0 = b[0] - direct
        rest1 = b[1] - direct * a[1]
        # residue of the first-order section 1 / (1 - p z^-1) at the pole p
        residue = (rest0 + rest1 / pole) / (1.0 - pole.conjugate() / pole)
        m = np.arange(_B)
        # impulse response h[m] = direct [m == 0] + 2 Re(residue p**m), as a Toeplitz matrix:
        # row k (input sample in the block) x column n (output sample), h[n - k] for n >= k
        taps = 2.0 * (residue * pole**m).real
        taps[0] += direct
        lag = m[None, :] - m[:, None]
        toeplitz = np.where(lag >= 0, taps[np.clip(lag, 0, _B - 1)], 0.0)
        # the previous block's end state s enters output n as 2 Re(residue p**(n+1) s)
        carry = 2.0 * residue * pole ** (m + 1.0)
        from_state = np.stack((carry.real, -carry.imag))
        # rows of one block's product: the block's samples, then the real and imaginary part of
        # the state before it
        self._taps = np.ascontiguousarray(np.vstack((toeplitz, from_state)), dtype=np.float32)
        # a block's own contribution to the state at its end: sum of p**(_B-1-k) x[k]
        to_state = pole ** (_B - 1.0 - m)
        self._to_state = np.ascontiguousarray(
            np.stack((to_state.real, to_state.imag), axis=1), dtype=np.float32
        )
        # S_j = sum over i <= j of P**(j-i) v_i, P = p**_B, with v = [state, u_0, u_1, ...]:
        # S_j is the state before block j, and S_nb the state after the last block
        block_pole = pole**_B
        chain = np.zeros((2 * (_BLOCKS + 1), 2 * (_BLOCKS + 1)))
        for j in range(_BLOCKS + 1):
            for i in range(j + 1):
                chain[2 * j : 2 * j + 2, 2 * i : 2 * i + 2] = _as_real(block_pole ** (j - i))
        self._chain = chain.astype(np.float32)
        self._rewind = pole ** -np.arange(_B, dtype=np.float64)
        # work buffers: per block row, its samples and then the state before it
        self._rows = np.zeros((_BLOCKS, _B + 2), dtype=np.float32)
        self._flat = np.zeros(_SPAN, dtype=np.float32)
        self._v = np.zeros(2 * (_BLOCKS + 1), dtype=np.float32)
        self._state = 0j

    def reset(self) -> None:
        self._state = 0j

    def __call__(self, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Filter ``x`` (int16 or any real dtype) times ``scale``; float32 out, a new array.

        ``scale`` multiplies the input on its way into float32 (the filter is linear, so it
        scales the output alike): int16 in with ``scale=1/32768`` gives [-1, 1) without a
        separate conversion pass. The state is kept in output units, so calls with different
        scales may follow one another."""
        n = len(x)
        if n <= _SPAN:
            return self._span(x, scale)
        out = np.empty(n, dtype=np.float32)
        for start in range(0, n, _SPAN):
            out[start : start + _SPAN] = self._span(x[start : start + _SPAN], scale)
        return out

    def _span(self, x: np.ndarray, scale: float) -> np.ndarray:
        n = len(x)
        if not n:
            return np.zeros(0, dtype=np.float32)
        blocks = -(-n // _B)
        pad = blocks * _B - n
        rows = self._rows[:blocks]
        samples = rows[:, :_B]
        if pad:
            flat = self._flat[: blocks * _B]
            flat[:pad] = 0.0
            flat[pad:] = x
            samples[...] = flat.reshape(blocks, _B)
        else:
            samples[...] = x.reshape(blocks, _B)
        if scale != 1.0:
            samples *= np.float32(scale)
        # the state as it was before the padding, which then decays it to the carried state
        state = self._state * self._rewind[pad]
        v = self._v[: 2 * blocks + 2]
        v[0] = state.real
        v[1] = state.imag
        np.dot(samples, self._to_state, out=v[2:].reshape(blocks, 2))
        states = np.dot(self._chain[: 2 * blocks + 2, : 2 * blocks + 2], v)
        self._state = complex(float(states[-2]), float(states[-1]))
        rows[:, _B:] = states[:-2].reshape(blocks, 2)
        y = np.dot(rows, self._taps).reshape(-1)
        return y[pad:] if pad else y
