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

# samples per block: the Toeplitz product costs _B multiply-adds per sample, the recurrence
# (2 n / _B)**2 per chunk of n; both are small at 32, where the cost is mostly per call
_B = 32
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


class _Plan:
    """Buffers and views for one chunk length (up to ``_SPAN``), made once and reused."""

    __slots__ = (
        "blocks",
        "carried",
        "chain",
        "contributions",
        "end_state",
        "first",
        "pad",
        "rest",
        "rewind",
        "rows",
        "samples",
        "state_columns",
        "states",
        "v",
    )

    def __init__(self, n: int, chain: np.ndarray, pole: complex) -> None:
        self.blocks = blocks = -(-n // _B)
        self.pad = pad = blocks * _B - n
        # the zeros in front decay the state: start from the one they decay into the carried
        # one, i.e. the carried state times p**-pad ([re, im] -> [re, im])
        self.rewind = np.array(_as_real(pole**-pad), dtype=np.float32)
        # per block: its samples, then the state before it; the padding stays zero for good
        self.rows = np.zeros((blocks, _B + 2), dtype=np.float32)
        # where the chunk's samples go: the end of the first row, then whole rows
        self.samples = self.rows[:, :_B]
        self.first = self.rows[0, pad:_B]
        self.rest = self.rows[1:, :_B]
        # [state before the chunk, each block's own contribution to the state at its end]
        self.v = np.zeros(2 * blocks + 2, dtype=np.float32)
        self.contributions = self.v[2:].reshape(blocks, 2)
        self.chain = np.ascontiguousarray(chain[: 2 * blocks + 2, : 2 * blocks + 2])
        # the state before each block, and after the last one
        self.states = np.zeros(2 * blocks + 2, dtype=np.float32)
        self.carried = self.states[:-2].reshape(blocks, 2)
        self.end_state = self.states[-2:]
        self.state_columns = self.rows[:, _B:]


class HighPass:
    def __init__(self, cutoff_hz: float, rate: int) -> None:
        b, a = butterworth_highpass(cutoff_hz, rate)
        self.b, self.a = b, a
        # poles: roots of z^2 + a1 z + a2; a Butterworth pair is complex conjugate
        disc = complex(a[1] * a[1] - 4.0 * a[2])
        pole = (-a[1] + disc**0.5) / 2.0
        self._pole = pole
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
        # a row's product: its samples through the Toeplitz matrix, its state through the carry
        self._taps = np.ascontiguousarray(np.vstack((toeplitz, from_state)), dtype=np.float32)
        # a block's own contribution to the state at its end, sum of p**(_B-1-k) x[k]; the
        # zero rows skip the state columns, so that the product reads whole rows
        to_state = pole ** (_B - 1.0 - m)
        self._to_state = np.zeros((_B + 2, 2), dtype=np.float32)
        self._to_state[:_B] = np.stack((to_state.real, to_state.imag), axis=1)
        # S_j = sum over i <= j of P**(j-i) v_i, P = p**_B, with v = [state, u_0, u_1, ...]:
        # S_j is the state before block j, and S_nb the state after the last block
        block_pole = pole**_B
        chain = np.zeros((2 * (_BLOCKS + 1), 2 * (_BLOCKS + 1)))
        for j in range(_BLOCKS + 1):
            for i in range(j + 1):
                chain[2 * j : 2 * j + 2, 2 * i : 2 * i + 2] = _as_real(block_pole ** (j - i))
        self._chain = chain.astype(np.float32)
        self._plans: dict[int, _Plan] = {}
        self.reset()

    def reset(self) -> None:
        # [re, im] of the state after the last chunk, in output units: the end of the last
        # chunk's plan's states (a view, so carrying it over costs nothing)
        self._state: np.ndarray = np.zeros(2, dtype=np.float32)

    def _plan(self, n: int) -> _Plan:
        if len(self._plans) >= 8:  # chunk lengths vary little; bound the cache anyway
            self._plans.clear()
        plan = _Plan(n, self._chain, self._pole)
        self._plans[n] = plan
        return plan

    def __call__(self, x: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """Filter ``x`` (int16 or any real dtype) times ``scale``; float32 out, a new array.

        ``scale`` multiplies the input once it is float32 (the filter is linear, so it scales
        the output alike): int16 in with ``scale=1/32768`` gives [-1, 1). The state is kept in
        output units, so calls with different scales may follow one another."""
        n = len(x)
        if not n:
            return np.zeros(0, dtype=np.float32)
        if n > _SPAN:
            out = np.empty(n, dtype=np.float32)
            for start in range(0, n, _SPAN):
                out[start : start + _SPAN] = self(x[start : start + _SPAN], scale)
            return out
        plan = self._plans.get(n)
        if plan is None:
            plan = self._plan(n)
        rows = plan.rows
        if plan.pad:
            head = _B - plan.pad
            plan.first[...] = x[:head]
            plan.rest[...] = x[head:].reshape(plan.blocks - 1, _B)
        else:
            plan.samples[...] = x.reshape(plan.blocks, _B)
        if scale != 1.0:
            plan.samples *= np.float32(scale)
        v = plan.v
        if plan.pad:
            np.dot(plan.rewind, self._state, out=v[:2])
        else:
            v[:2] = self._state
        np.dot(rows, self._to_state, out=plan.contributions)
        np.dot(plan.chain, v, out=plan.states)
        self._state = plan.end_state
        plan.state_columns[...] = plan.carried
        y = np.dot(rows, self._taps).ravel()
        return y[plan.pad :] if plan.pad else y
