"""The capture worker: one thread that runs what the satellite hears (:mod:`.hearing`), in order,
off the event loop.

A slow link or a blocked event loop must not cost microphone audio, and the DSP and the wake-word
models are most of the satellite's CPU. So microphone blocks go to this thread directly (from the
sound device's thread, or from the event loop for sources it paces, e.g. WAV files), and only
what was heard goes to the loop (:attr:`CaptureWorker.heard`), where the agent decides. A loop
that was blocked then finds every block's result waiting, in order.

One thread, not a pool: the DSP, the detectors and the VAD carry state from block to block, and
the answers' audio for the own-voice guards must be heard in order with the microphone's (both go
through the one queue). numpy, soxr and TFLite release the GIL for much of their work, so the loop
stays responsive meanwhile.

The queue holds at most ``QUEUE_BLOCKS`` microphone blocks (10 s); a block beyond that is lost
and counted, and the loss is logged (:class:`.audio_io.DropReport`) when the worker gets to the
next block. Likewise at most ``ANSWER_QUEUE_BYTES`` of the answers' audio (two minutes): a chunk
beyond that is lost, counted and logged at once (by the event loop, which submits them); the
guards then place what they find after it early by as much as was lost. The agent's state reaches the worker as :attr:`CaptureWorker.state` (see
:class:`.hearing.HearingState`), the echo canceller's reference with each block
(:mod:`.captured_reference`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np

from ..link.protocol import AUDIO_RATE
from .audio_io import INPUT_OVERFLOW, QUEUE_FULL, DropReport
from .captured_reference import CapturedReference
from .errors import RepeatedErrors
from .hearing import Heard, Hearing, HearingState

_LOGGER = logging.getLogger(__name__)

QUEUE_BLOCKS = 500  # microphone blocks waiting for the worker: 10 s of 20 ms blocks
ANSWER_QUEUE_BYTES = 120 * AUDIO_RATE * 2  # the answers' audio waiting for the worker: 2 min
ANSWER_AUDIO = "answer audio for the own-voice guards"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Block:
    samples: np.ndarray
    captured_at: float
    overflowed: bool  # the sound device lost audio just before this block
    lost_before: int  # blocks the queue had no room for just before this one
    reference: int | None  # how much the speaker had played (for the echo canceller)


@dataclass(frozen=True, slots=True)
class _Answer:
    pcm: bytes
    then: Callable[[list[list[float]]], None]


@dataclass(frozen=True, slots=True)
class _Task:
    work: Callable[[], Any]
    then: Callable[[Any], None]


class CaptureWorker:
    """``start()`` on the event loop, then ``submit_block`` for each microphone block (from one
    thread: the device's or the loop), ``submit_answer`` for the answers' audio and ``run`` for
    other work in the same order (from the loop), ``heard`` for the results; ``await stop()``."""

    def __init__(
        self,
        hearing: Hearing,
        state: HearingState,
        *,
        reference: CapturedReference | None = None,
    ) -> None:
        self.hearing = hearing
        self.reference = reference
        # Published by the event loop (one assignment of an immutable object), read once per
        # block by the worker: a block is processed with one consistent state.
        self.state = state
        self.heard: asyncio.Queue[Heard] = asyncio.Queue()
        self.drops = DropReport()  # the worker's thread only
        self.answer_drops = DropReport(what=ANSWER_AUDIO, unit="chunk")  # the loop's only
        self._queue: queue.SimpleQueue[_Block | _Answer | _Task | None] = queue.SimpleQueue()
        self._room = threading.BoundedSemaphore(QUEUE_BLOCKS)
        self._lost = 0  # written only by the thread that submits blocks
        # the answers' audio queued: their difference (each written by one thread, no lock)
        self._answer_bound = ANSWER_QUEUE_BYTES
        self._answer_submitted = 0  # the loop's
        self._answer_taken = 0  # the worker's
        self._errors = RepeatedErrors(_LOGGER, "processing microphone audio")
        self._answer_errors = RepeatedErrors(_LOGGER, "listening to the answer's own audio")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="satellite-capture", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        await asyncio.to_thread(thread.join)

    def submit_block(
        self, samples: np.ndarray, captured_at: float, overflowed: bool = False
    ) -> None:
        """Queue a microphone block; never blocks (a PortAudio callback may call it)."""
        if not self._room.acquire(blocking=False):
            self._lost += 1
            return
        reference = None if self.reference is None else self.reference.capture()
        self._queue.put(_Block(samples, captured_at, overflowed, self._lost, reference))
        self._lost = 0

    def submit_answer(self, pcm: bytes, then: Callable[[list[list[float]]], None]) -> None:
        """Queue the answer's audio for the guards (``Hearing.hear_answer``), then ``then(hits)``
        on the loop; lost when ``ANSWER_QUEUE_BYTES`` are waiting already."""
        if self._answer_submitted - self._answer_taken + len(pcm) > self._answer_bound:
            self.answer_drops.lost(QUEUE_FULL)
            return
        self._answer_submitted += len(pcm)
        self._queue.put(_Answer(pcm, then))

    def run(self, work: Callable[[], T], then: Callable[[T], None]) -> None:
        """``work()`` on the worker after what is queued, then ``then(result)`` on the loop."""
        self._queue.put(_Task(work, then))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if isinstance(item, _Block):
                self._room.release()
                self._hear(item)
            elif isinstance(item, _Answer):
                self._answer_taken += len(item.pcm)
                self._do(partial(self.hearing.hear_answer, item.pcm), item.then)
            else:
                self._do(item.work, item.then)

    def _do(self, work: Callable[[], T], then: Callable[[T], None]) -> None:
        try:
            result = work()
        except Exception as err:
            self._answer_errors.report(err)
        else:
            self._answer_errors.ok()
            self._to_loop(then, result)

    def _hear(self, block: _Block) -> None:
        if block.overflowed:
            self.drops.lost(INPUT_OVERFLOW)
        if block.lost_before:
            self.drops.lost(QUEUE_FULL, block.lost_before)
        if block.reference is not None and self.reference is not None:
            self.reference.add(block.reference)
        try:
            heard = self.hearing.hear(block.samples, block.captured_at, self.state)
        except Exception as err:  # one bad block must not end the satellite
            self._errors.report(err)
            return
        self._errors.ok()
        self._to_loop(self.heard.put_nowait, heard)

    def _to_loop(self, callback: Callable[[Any], None], arg: object) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: the satellite is stopping
            self._loop.call_soon_threadsafe(callback, arg)
