"""The compatibility layer's entry points: ``open_session`` (auto/new/legacy) and ``check_connection``."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .connection import establish
from .errors import (
    InterfaceUnsupportedError,
    ModelUnavailableError,
    RealtimeError,
    VoiceUnavailableError,
)
from .registry import Interface
from .session import Fallback, RealtimeSession
from .settings import RealtimeSettings, SessionDescription
from .voices import choose_voice, voice_after_rejection

_LOGGER = logging.getLogger(__name__)
RETRY_NEW_AFTER_S = 6 * 3600


@dataclass(frozen=True, slots=True)
class SelectionOutcome:
    model: str
    interface: Interface
    fallback_reason: str | None
    at: float  # time.time() of the decision


@dataclass
class SelectionMemory:
    """What auto mode learned per endpoint: the last outcome, and endpoints where beta is disabled.

    After a fallback to legacy, the new model is tried again once ``retry_new_after`` seconds have
    passed. An endpoint that said the beta interface is disabled is never tried with legacy again.
    ``as_dict``/``from_dict`` let the caller persist it.
    """

    retry_new_after: float = RETRY_NEW_AFTER_S
    clock: Callable[[], float] = field(default=time.time, repr=False)
    outcomes: dict[str, SelectionOutcome] = field(default_factory=dict)
    beta_disabled: set[str] = field(default_factory=set)

    @staticmethod
    def _key(settings: RealtimeSettings) -> str:
        return f"{settings.url}|{settings.model}|{settings.legacy_model}"

    def remember(self, settings: RealtimeSettings, outcome: SelectionOutcome) -> None:
        self.outcomes[self._key(settings)] = outcome

    def recall(self, settings: RealtimeSettings) -> SelectionOutcome | None:
        return self.outcomes.get(self._key(settings))

    def prefers_legacy(self, settings: RealtimeSettings) -> bool:
        """True while a recent fallback says: go straight to legacy."""
        outcome = self.recall(settings)
        return (
            outcome is not None
            and outcome.interface == "beta"
            and self.clock() - outcome.at < self.retry_new_after
            and not self.is_beta_disabled(settings.url)
        )

    def mark_beta_disabled(self, url: str) -> None:
        self.beta_disabled.add(url)

    def is_beta_disabled(self, url: str) -> bool:
        return url in self.beta_disabled

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcomes": {
                k: {
                    "model": o.model,
                    "interface": o.interface,
                    "reason": o.fallback_reason,
                    "at": o.at,
                }
                for k, o in self.outcomes.items()
            },
            "beta_disabled": sorted(self.beta_disabled),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> SelectionMemory:
        memory = cls(**kwargs)
        for key, o in (data.get("outcomes") or {}).items():
            memory.outcomes[key] = SelectionOutcome(
                o["model"], o["interface"], o["reason"], o["at"]
            )
        memory.beta_disabled = set(data.get("beta_disabled") or ())
        return memory


async def _attempt(
    settings: RealtimeSettings,
    description: SessionDescription,
    model: str,
    interface: Interface,
    fallback: Fallback | None,
) -> RealtimeSession:
    """Connect and configure with ``model`` on ``interface``; the voice manager picks the voice."""
    voice = choose_voice(settings, model)
    try:
        link, connect_ms = await establish(
            settings, model=model, interface=interface, description=description, voice=voice
        )
    except VoiceUnavailableError:
        voice = voice_after_rejection(settings, model, voice)
        _LOGGER.info("Voice refused for %s; using fallback voice %s", model, voice)
        link, connect_ms = await establish(
            settings, model=model, interface=interface, description=description, voice=voice
        )
    return RealtimeSession(
        settings,
        description,
        link=link,
        requested_model=model,
        voice=voice,
        connect_ms=connect_ms,
        fallback=fallback,
    )


async def open_session(
    settings: RealtimeSettings,
    description: SessionDescription,
    *,
    selection_memory: SelectionMemory | None = None,
) -> RealtimeSession:
    """A connected, configured session chosen by ``settings.model_selection``.

    Raises ``AuthenticationError``, ``ModelUnavailableError``, ``VoiceUnavailableError``,
    ``InterfaceUnsupportedError`` or ``RealtimeConnectionError`` (transient).
    """
    memory = selection_memory if selection_memory is not None else SelectionMemory()
    mode = settings.model_selection
    if mode == "new":
        try:
            return await _attempt(settings, description, settings.model, "ga", None)
        except InterfaceUnsupportedError as err:
            raise InterfaceUnsupportedError(
                f"{err.message}. Model selection 'new' needs the GA interface; choose 'legacy' "
                "or 'auto' for this endpoint.",
                code=err.code,
            ) from None
    if mode == "legacy":
        try:
            return await _attempt(settings, description, settings.legacy_model, "beta", None)
        except InterfaceUnsupportedError as err:
            if err.code == "beta_disabled":
                memory.mark_beta_disabled(settings.url)
                raise InterfaceUnsupportedError(
                    f"Legacy mode needs the beta interface for {settings.legacy_model!r}, and this "
                    f"endpoint has disabled it ({err.message}). Choose model selection 'new' or "
                    "'auto'.",
                    code="beta_disabled",
                ) from None
            raise

    # auto
    if memory.prefers_legacy(settings):
        remembered = memory.recall(settings)
        reason = remembered.fallback_reason if remembered else None
        try:
            return await _attempt(
                settings,
                description,
                settings.legacy_model,
                "beta",
                Fallback(settings.model, settings.legacy_model, f"{reason} (remembered)"),
            )
        except (ModelUnavailableError, InterfaceUnsupportedError) as err:
            _LOGGER.info("Remembered legacy choice no longer works (%s); trying the new model", err)
    try:
        session = await _attempt(settings, description, settings.model, "ga", None)
    except (ModelUnavailableError, InterfaceUnsupportedError) as err:
        new_error: RealtimeError = err
    else:
        memory.remember(settings, SelectionOutcome(session.model, "ga", None, memory.clock()))
        return session

    if memory.is_beta_disabled(settings.url):
        raise new_error
    _LOGGER.warning(
        "Model %s unavailable (%s); falling back to legacy model %s",
        settings.model,
        new_error.code,
        settings.legacy_model,
    )
    fallback = Fallback(settings.model, settings.legacy_model, new_error.code)
    try:
        session = await _attempt(settings, description, settings.legacy_model, "beta", fallback)
    except InterfaceUnsupportedError as err:
        if err.code == "beta_disabled":
            memory.mark_beta_disabled(settings.url)
        raise type(new_error)(
            f"{new_error.message}; the legacy model {settings.legacy_model!r} cannot help: "
            f"{err.message}",
            code=new_error.code,
        ) from None
    except ModelUnavailableError as err:
        raise ModelUnavailableError(
            f"Neither model {settings.model!r} (GA) nor legacy model {settings.legacy_model!r} "
            f"(beta) is available on this endpoint: {err.message}"
        ) from None
    memory.remember(
        settings, SelectionOutcome(session.model, "beta", new_error.code, memory.clock())
    )
    return session


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    model: str
    interface: Interface
    voice: str
    fallback: Fallback | None
    connect_ms: float | None


async def check_connection(
    settings: RealtimeSettings,
    description: SessionDescription | None = None,
    *,
    selection_memory: SelectionMemory | None = None,
) -> ConnectionReport:
    """Connect and configure a session through the layer without running a turn (config flow)."""
    session = await open_session(
        settings, description or SessionDescription(), selection_memory=selection_memory
    )
    try:
        return ConnectionReport(
            session.model,
            session.interface,
            session.voice,
            session.fallback,
            session.metrics.connect_ms,
        )
    finally:
        await session.close()
