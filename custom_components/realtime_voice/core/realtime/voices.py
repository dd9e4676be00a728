"""The voice manager: which voice a session asks for, given the model and the user's settings."""

from __future__ import annotations

from .errors import VoiceUnavailableError
from .registry import voices_of
from .settings import RealtimeSettings


def choose_voice(settings: RealtimeSettings, model: str) -> str:
    """The voice to configure for ``model``.

    A model missing from the registry may offer any voice, so the wanted voice is tried and the
    endpoint's answer decides (see ``voice_after_rejection``).
    """
    offered = voices_of(model)
    if offered is None or settings.voice in offered:
        return settings.voice
    if not settings.auto_select_voice:
        raise VoiceUnavailableError(
            f"Voice {settings.voice!r} not available for model {model!r} "
            f"(it offers {', '.join(sorted(offered))})"
        )
    if settings.voice_fallback in offered:
        return settings.voice_fallback
    raise VoiceUnavailableError(
        f"Neither voice {settings.voice!r} nor fallback voice {settings.voice_fallback!r} "
        f"is available for model {model!r} (it offers {', '.join(sorted(offered))})"
    )


def voice_after_rejection(settings: RealtimeSettings, model: str, rejected: str) -> str:
    """The endpoint refused ``rejected``: the fallback voice if auto-select allows, else an error."""
    if settings.auto_select_voice and rejected != settings.voice_fallback:
        return settings.voice_fallback
    raise VoiceUnavailableError(f"Voice {rejected!r} not available for model {model!r}")
