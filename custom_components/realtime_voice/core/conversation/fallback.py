"""A brain of two brains: the primary (the Realtime session) answers while its service can be
reached; when it cannot (the network, the endpoint's 5xx, the account's key or credit, the model),
the fallback (Home Assistant's Assist pipeline) takes the same utterance, and the turns after it.

How a turn goes over: the primary refuses it with a ``TurnRefused`` that names a ``cause``
(brain.py) before it takes the user's audio, or it does not take the audio within
``PRIMARY_READY_S`` (a network that drops packets rather than refusing). The engine keeps the audio
since the wake word until a brain takes it, so the fallback gets all of it: no second wake word.
A refusal without a cause (the brain itself failed: a bad setting, a tool, a model error mid-answer)
is the engine's as before, and switches nothing.

While the fallback answers, the primary is probed in the background (never on the user's turn) with
the project's backoff (core/backoff.py); the first probe that succeeds gives the turns back to it.
No flapping: the backoff goes on where it was when the primary fails again within ``STABLE_S`` of
its recovery (each relapse waits longer before the next try), and starts over only after the primary
stayed up that long.

Only the brain of the turn (between turns: the active one) reaches the engine: events of the other
(the Realtime session reconnecting while the pipeline answers, say) are dropped here.

A primary may leave some work to the fallback by its nature, not by a failure (GPT-Live without a
Realtime brain beside it: ask_question's turns, which HA must hear rather than the model, and
announcements, spoken word for word): ``primary_takes`` says which turns are the primary's, and
``primary_speaks`` False gives every announcement to the fallback. Those switch nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from ..backoff import backoff_delays
from . import brain as b
from .brain import Brain, BrainAbilities, BrainEventHandler, SpeakError, Turn, TurnRefused

_LOGGER = logging.getLogger(__name__)

# The primary must take the user's audio within this long, or the fallback takes it (the engine's
# no-speech watchdog gives the whole turn 8 s).
PRIMARY_READY_S = 4.0
# The primary is probed after 5 s, then up to every 5 minutes.
PROBE_INITIAL_S = 5.0
PROBE_MAX_S = 300.0
# A primary up this long after its recovery starts the backoff over when it fails next.
STABLE_S = 600.0
# The cause when the primary did not take the audio in time.
CAUSE_TIMEOUT = "network"

Probe = Callable[[], Awaitable[None]]
SpawnTask = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


def _spawn(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(coro, name=name)


@dataclass(frozen=True, slots=True)
class FallbackStatus:
    """Which brain answers, and why the fallback does."""

    active: Literal["primary", "fallback"] = "primary"
    cause: str | None = None  # why the fallback answers (None while the primary does)
    since: datetime | None = None  # when the fallback took over
    switches: int = 0  # times the fallback took over since the brain was made
    last_cause: str | None = None  # the cause of the last switch (kept after the recovery)


class FallbackBrain:
    """The ``Brain`` the engine talks to in the fallback mode: ``primary``, else ``fallback``.

    ``probe`` asks the primary whether it can take turns again: it returns when it can and raises
    ``TurnRefused`` when not. ``on_status`` hears every change of ``status``.
    """

    def __init__(
        self,
        primary: Brain,
        fallback: Brain,
        *,
        probe: Probe,
        on_status: Callable[[FallbackStatus], None] = lambda status: None,
        spawn: SpawnTask = _spawn,
        name: str = "",
        service: str = "the Realtime endpoint",
        primary_takes: Callable[[Turn], bool] = lambda turn: True,
        primary_speaks: bool = True,
        primary_ready_s: float = PRIMARY_READY_S,
        probe_initial_s: float = PROBE_INITIAL_S,
        probe_max_s: float = PROBE_MAX_S,
        stable_s: float = STABLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.fallback = fallback
        self._probe = probe
        self._on_status = on_status
        self._spawn = spawn
        self._name = name
        self.service = service  # what the primary talks to, as the log and the repair name it
        self._primary_takes = primary_takes
        self._primary_speaks = primary_speaks
        self._primary_ready_s = primary_ready_s
        self._probe_initial_s = probe_initial_s
        self._probe_max_s = probe_max_s
        self._stable_s = stable_s
        self._clock = clock
        self.status = FallbackStatus()
        self._active: Brain = primary
        self._turn_brain: Brain | None = None  # the brain of the open turn
        self._turn: Turn | None = None
        self._last: Brain | None = None  # the brain of the last turn (its context is dropped)
        self._handler: BrainEventHandler | None = None
        self._delays: Iterator[float] | None = None
        self._recovered_at: float | None = None
        self._prober: asyncio.Task[None] | None = None
        primary.attach(self._relay_from(primary))
        fallback.attach(self._relay_from(fallback))

    @property
    def active(self) -> Brain:
        """The brain the next turn goes to."""
        return self._active

    @property
    def _current(self) -> Brain:
        return self._turn_brain or self._active

    @property
    def abilities(self) -> BrainAbilities:
        return self._current.abilities

    def attach(self, handler: BrainEventHandler) -> None:
        self._handler = handler

    def _relay_from(self, source: Brain) -> BrainEventHandler:
        async def relay(event: b.BrainEvent) -> None:
            if source is not self._current:
                _LOGGER.debug("%s: dropped %s of the inactive brain", self._name, event)
                return
            if self._handler is not None:
                await self._handler(event)

        return relay

    async def start(self) -> None:
        await self.primary.start()
        await self.fallback.start()

    async def stop(self) -> None:
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
            self._prober = None
        await self.primary.stop()
        await self.fallback.stop()

    # --- turns ---------------------------------------------------------------------------------

    async def start_turn(self, turn: Turn, take_audio: Callable[[], bytes]) -> None:
        self._turn = turn
        taken: list[bytes] = []

        def take_once() -> bytes:
            # What the primary took (and then refused with) goes to the fallback as well.
            if not taken:
                taken.append(take_audio())
            return taken[0]

        if self._active is self.primary and self._primary_takes(turn):
            self._turn_brain = self.primary
            cause = await self._try_primary(turn, take_once)
            if cause is None:
                return
            await self._fail_over(cause)
            if self._turn is not turn:
                return  # the conversation ended while the primary tried
        self._turn_brain = self.fallback
        await self.fallback.start_turn(turn, take_once)

    async def _try_primary(self, turn: Turn, take_once: Callable[[], bytes]) -> str | None:
        """None when the primary took the turn; else why it could not (a refusal without a cause
        is raised to the engine)."""
        primary = self.primary
        ready = asyncio.Event()

        def take() -> bytes:
            if self._turn_brain is not primary:
                return b""  # given up on: the fallback has the audio
            ready.set()
            return take_once()

        task = asyncio.get_running_loop().create_task(primary.start_turn(turn, take))
        waiter = asyncio.get_running_loop().create_task(ready.wait())
        try:
            await asyncio.wait(
                (task, waiter), timeout=self._primary_ready_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        if task.done() or ready.is_set():
            try:
                await task
            except TurnRefused as err:
                if err.cause is None:
                    raise  # its own failure: the engine's, as without a fallback
                await primary.end_turn(answering=False, listening=False)
                return err.cause
            return None
        # Not ready in time: the turn is the fallback's; the primary's attempt ends on its own.
        self._turn_brain = None
        task.cancel()
        self._spawn(self._abandon(task), f"realtime_voice abandon {self._name}")
        return CAUSE_TIMEOUT

    async def _abandon(self, task: asyncio.Task[None]) -> None:
        with contextlib.suppress(asyncio.CancelledError, TurnRefused):
            await task
        if self._turn_brain is not self.primary:
            await self.primary.end_turn(answering=False, listening=False)

    async def send_audio(self, pcm: bytes) -> None:
        await self._current.send_audio(pcm)

    async def next_turn(self) -> None:
        await self._current.next_turn()

    async def cancel(self) -> None:
        await self._current.cancel()

    async def truncate(self, answer_id: str, played_ms: int) -> None:
        await self._current.truncate(answer_id, played_ms)

    async def end_turn(self, *, answering: bool, listening: bool) -> None:
        brain = self._current
        self._turn = None
        self._last = brain
        try:
            await brain.end_turn(answering=answering, listening=listening)
        finally:
            self._turn_brain = None

    def drop_context(self, done: Callable[[], None]) -> None:
        (self._last or self._active).drop_context(done)

    def listen_at_least_s(self) -> float:
        return self._current.listen_at_least_s()

    # --- announcements -------------------------------------------------------------------------

    async def speak(self, text: str) -> AsyncIterator[bytes]:
        """The active brain speaks; a primary that cannot (before any audio) leaves it to the
        fallback, so that the announcement is heard."""
        if self._active is self.primary and self._primary_speaks:
            spoke = False
            try:
                async for pcm in self.primary.speak(text):
                    spoke = True
                    yield pcm
            except SpeakError as err:
                if spoke:
                    raise
                _LOGGER.info("%s: the fallback speaks the announcement (%s)", self._name, err)
            else:
                return
        async for pcm in self.fallback.speak(text):
            yield pcm

    # --- switching -----------------------------------------------------------------------------

    async def _fail_over(self, cause: str) -> None:
        if self._active is self.fallback:
            if cause != self.status.cause:
                await self._publish(replace(self.status, cause=cause, last_cause=cause))
            return
        recovered = self._recovered_at
        if self._delays is None or recovered is None or self._clock() - recovered >= self._stable_s:
            self._delays = backoff_delays(self._probe_initial_s, self._probe_max_s)
        self._active = self.fallback
        _LOGGER.warning(
            "%s: %s is not available (%s); the Assist pipeline answers until it is back",
            self._name,
            self.service,
            cause,
        )
        await self._publish(
            FallbackStatus(
                "fallback",
                cause,
                datetime.now(UTC),
                self.status.switches + 1,
                last_cause=cause,
            )
        )
        self._prober = self._spawn(self._probe_until_up(), f"realtime_voice probe {self._name}")

    async def _probe_until_up(self) -> None:
        assert self._delays is not None
        while True:
            await asyncio.sleep(next(self._delays))
            try:
                await self._probe()
            except TurnRefused as err:
                if err.cause is not None and err.cause != self.status.cause:
                    await self._publish(replace(self.status, cause=err.cause, last_cause=err.cause))
                continue
            except Exception as err:  # a probe that fails in any way means "not yet"
                _LOGGER.debug("%s: probing the primary brain failed: %r", self._name, err)
                continue
            break
        self._prober = None
        self._recovered_at = self._clock()
        self._active = self.primary
        _LOGGER.info("%s: %s is back; it answers again", self._name, self.service)
        await self._publish(replace(self.status, active="primary", cause=None, since=None))

    async def _publish(self, status: FallbackStatus) -> None:
        self.status = status
        self._on_status(status)
        if self._handler is not None:
            await self._handler(b.Changed())
