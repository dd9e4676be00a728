"""The satellite as a timer device of HA's intent timers.

Registering the device makes the Assist API offer its timer tools (start, cancel, add time, pause,
status) to the model, which otherwise is told "This device is not able to start timers". HA holds the
timers; this module shows them (the assist_satellite entity's `timers` attribute) and rings when one
finishes: a ring that repeats for RING_SECONDS, then the timer's name spoken, played as an
announcement (the stop word or the wake word silences it). A satellite that is offline when a timer
finishes, or drops during the ring, rings once it is back, if that is within RING_RESUME_S.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from homeassistant.components.intent import (
    TimerEventType,
    TimerInfo,
    async_register_timer_handler,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from .tone import ring_pcm

if TYPE_CHECKING:
    from .session_manager import SessionManager

_LOGGER = logging.getLogger(__name__)

RING_SECONDS = 10.0
RING_RESUME_S = 120.0


def timer_message(timer: TimerInfo) -> str:
    name = (timer.name or "").strip()
    return f"The {name} timer is done." if name else "Your timer is done."


class SatelliteTimers:
    """One satellite's running and ringing timers."""

    def __init__(self, hass: HomeAssistant, manager: SessionManager, device_id: str) -> None:
        self.hass = hass
        self._manager = manager
        self._device_id = device_id
        self.running: dict[str, TimerInfo] = {}
        self._unrung: dict[str, tuple[TimerInfo, float]] = {}  # finished while it could not ring
        self._listeners: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        unregister = async_register_timer_handler(self.hass, self._device_id, self._on_timer)
        unlisten = self._manager.link.async_add_availability_listener(self._on_availability)

        def stop() -> None:
            unregister()
            unlisten()
            for task in self._tasks:
                task.cancel()

        return stop

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def as_attributes(self) -> list[dict[str, Any]]:
        return [
            {
                "id": timer.id,
                "name": timer.name,
                "seconds": timer.seconds,
                "seconds_left": timer.seconds_left,
                "active": timer.is_active,
            }
            for timer in self.running.values()
        ]

    @callback
    def _on_timer(self, event_type: TimerEventType, timer: TimerInfo) -> None:
        if event_type in (TimerEventType.STARTED, TimerEventType.UPDATED):
            self.running[timer.id] = timer
        else:
            self.running.pop(timer.id, None)
        if event_type == TimerEventType.FINISHED:
            self._ring_later(timer, time.monotonic())
        for listener in list(self._listeners):
            listener()

    def _ring_later(self, timer: TimerInfo, finished: float) -> None:
        task = self.hass.async_create_background_task(
            self._ring(timer, finished), f"realtime_voice timer {timer.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ring(self, timer: TimerInfo, finished: float) -> None:
        self._unrung.pop(timer.id, None)
        if not self._manager.link.available:
            self._unrung[timer.id] = (timer, finished)
            return
        try:
            await self._manager.async_announce(timer_message(timer), sound=ring_pcm(RING_SECONDS))
        except HomeAssistantError as err:
            if not self._manager.link.available:  # dropped during the ring: again when back
                self._unrung[timer.id] = (timer, finished)
            else:
                _LOGGER.warning("Timer %s could not ring: %s", timer.id, err)

    @callback
    def _on_availability(self) -> None:
        if not self._manager.link.available:
            return
        for timer, finished in list(self._unrung.values()):
            if time.monotonic() - finished <= RING_RESUME_S:
                self._ring_later(timer, finished)
            else:
                self._unrung.pop(timer.id, None)
