"""The satellite as a timer device of HA's intent timers.

Registering the device makes the Assist API offer its timer tools (start, cancel, add time, pause,
status) to the model, which otherwise is told "This device is not able to start timers". HA holds the
timers; this module shows them (the assist_satellite entity's `timers` attribute) and rings when one
finishes: a ring that repeats for RING_SECONDS, then the timer's name spoken, played as an
announcement (the stop word or the wake word silences it). A satellite that is offline when a timer
finishes, or drops during the ring, rings once it is back, if that is within RING_RESUME_S.

HA keeps its timers in memory only: a restart loses them. So this module stores the satellite's timers
(HA's Store, `.storage/realtime_voice.timers.<entry id>`) and, on the first set-up after HA started,
starts each again through HA's public intent API (HassStartTimer, then HassPauseTimer for a paused
one) with the time it had left: it rings at its time. One that finished while HA was down rings when
HA is back, within RING_RESUME_S of its time. A restored timer is a new timer of HA's: a new id, and
its length (`seconds`) is what was left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from homeassistant.components.intent import (
    TimerEventType,
    TimerInfo,
    async_register_timer_handler,
)
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import intent
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN
from .tone import ring_pcm

_LOGGER = logging.getLogger(__name__)

RING_SECONDS = 10.0
RING_RESUME_S = 120.0
STORAGE_VERSION = 1
SAVE_DELAY_S = 1.0
# Per device, across reloads of the entry (HA's timers outlive a reload; the attribute must too).
DATA_RUNNING: HassKey[dict[str, dict[str, TimerInfo]]] = HassKey(f"{DOMAIN}_timers_running")
# The entries whose stored timers were restored since HA started (a reload must not start them twice).
DATA_RESTORED: HassKey[set[str]] = HassKey(f"{DOMAIN}_timers_restored")


class Ringer(Protocol):
    """Where a finished timer rings (the announcer): returns when it has played; raises
    HomeAssistantError when it could not."""

    async def async_ring(self, message: str, sound: bytes) -> None: ...


class SatellitePresence(Protocol):
    """What the timers need of the satellite link: whether it is there."""

    @property
    def name(self) -> str: ...

    @property
    def available(self) -> bool: ...

    def async_add_availability_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE: ...


@dataclass(frozen=True, slots=True)
class _Ring:
    """A finished timer that has not rung yet."""

    timer_id: str
    name: str | None
    finished: float  # wall-clock time (time.time()) at which it finished


def timer_message(timer: TimerInfo | _Ring) -> str:
    name = (timer.name or "").strip()
    return f"The {name} timer is done." if name else "Your timer is done."


def storage_key(entry_id: str) -> str:
    return f"{DOMAIN}.timers.{entry_id}"


class SatelliteTimers:
    """One satellite's running and ringing timers."""

    def __init__(
        self,
        hass: HomeAssistant,
        *,
        entry_id: str,
        device_id: str,
        link: SatellitePresence,
        ringer: Ringer,
    ) -> None:
        self.hass = hass
        self._entry_id = entry_id
        self._link = link
        self._ringer = ringer
        self._device_id = device_id
        self.running: dict[str, TimerInfo] = hass.data.setdefault(DATA_RUNNING, {}).setdefault(
            device_id, {}
        )
        self._unrung: dict[str, _Ring] = {}  # finished while it could not ring
        self._listeners: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._ringing: set[str] = set()
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, storage_key(entry_id))

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        unregister = async_register_timer_handler(self.hass, self._device_id, self._on_timer)
        unlisten = self._link.async_add_availability_listener(self._on_availability)

        def stop() -> None:
            unregister()
            unlisten()
            for task in self._tasks:
                task.cancel()

        return stop

    async def async_restore(self) -> None:
        """Start again the timers stored before HA stopped (once per HA run: not on a reload,
        after which HA still has them); ring those that finished meanwhile."""
        restored = self.hass.data.setdefault(DATA_RESTORED, set())
        entry_id = self._entry_id
        if entry_id in restored:
            return
        restored.add(entry_id)
        stored = await self._store.async_load()
        if not stored:
            return
        now = time.time()
        for item in stored.get("timers", []):
            try:
                await self._restore(item, now)
            except (HomeAssistantError, KeyError, TypeError, ValueError) as err:
                _LOGGER.warning(
                    "Timer %s of %s could not be restored: %s",
                    item.get("name") if isinstance(item, dict) else item,
                    self._link.name,
                    err,
                )
        self._save()

    async def _restore(self, item: dict[str, Any], now: float) -> None:
        name: str | None = item.get("name")
        if item.get("finished") is not None or (
            not item["paused"] and float(item["ends_at"]) <= now
        ):
            finished = float(item.get("finished") or item["ends_at"])
            if now - finished <= RING_RESUME_S:
                _LOGGER.info("Timer %s finished while Home Assistant was stopped: ringing", name)
                self._ring_later(_Ring(str(item.get("id", "")), name, finished))
            else:
                _LOGGER.info(
                    "Timer %s finished %.0f s ago while Home Assistant was stopped: too late to "
                    "ring",
                    name,
                    now - finished,
                )
            return
        left = int(item["seconds_left"]) if item["paused"] else round(float(item["ends_at"]) - now)
        slots: dict[str, Any] = {"seconds": {"value": max(1, left)}}
        if name:
            slots["name"] = {"value": name}
        language = item.get("language") or self.hass.config.language
        await intent.async_handle(
            self.hass,
            DOMAIN,
            intent.INTENT_START_TIMER,
            slots,
            language=language,
            device_id=self._device_id,
        )
        if item["paused"]:
            pause: dict[str, Any] = {"start_seconds": {"value": max(1, left)}}
            if name:
                pause["name"] = {"value": name}
            await intent.async_handle(
                self.hass,
                DOMAIN,
                intent.INTENT_PAUSE_TIMER,
                pause,
                language=language,
                device_id=self._device_id,
            )
        _LOGGER.info("Timer %s restored after Home Assistant restarted (%d s left)", name, left)

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
            self._ring_later(_Ring(timer.id, timer.name, time.time()))
        self._save()
        for listener in list(self._listeners):
            listener()

    def _ring_later(self, ring: _Ring) -> None:
        self._unrung[ring.timer_id] = ring  # until it rang: kept across a restart
        if ring.timer_id in self._ringing:
            return
        self._ringing.add(ring.timer_id)
        task = self.hass.async_create_background_task(
            self._ring(ring), f"realtime_voice timer {ring.timer_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ring(self, ring: _Ring) -> None:
        try:
            if not self._link.available:
                return  # stays in _unrung: rings when the satellite is back
            try:
                await self._ringer.async_ring(timer_message(ring), ring_pcm(RING_SECONDS))
            except HomeAssistantError as err:
                if not self._link.available:  # dropped during the ring: again when back
                    return
                _LOGGER.warning("Timer %s could not ring: %s", ring.timer_id, err)
            self._unrung.pop(ring.timer_id, None)
            self._save()
        finally:
            self._ringing.discard(ring.timer_id)

    @callback
    def _on_availability(self) -> None:
        if not self._link.available:
            return
        for ring in list(self._unrung.values()):
            if time.time() - ring.finished <= RING_RESUME_S:
                self._ring_later(ring)
            else:
                self._unrung.pop(ring.timer_id, None)
                self._save()

    def _save(self) -> None:
        self._store.async_delay_save(self._stored, SAVE_DELAY_S)

    @callback
    def _stored(self) -> dict[str, Any]:
        now = time.time()
        timers: list[dict[str, Any]] = [
            {
                "id": timer.id,
                "name": timer.name,
                "language": timer.language,
                "seconds_left": timer.seconds_left,
                "paused": not timer.is_active,
                "ends_at": now + timer.seconds_left,
                "finished": None,
            }
            for timer in self.running.values()
            if timer.device_id == self._device_id
        ]
        timers += [
            {"id": ring.timer_id, "name": ring.name, "finished": ring.finished}
            for ring in self._unrung.values()
        ]
        return {"timers": timers}
