"""The Live brain: OpenAI's GPT-Live (full duplex) behind the conversation engine's brain interface
(core/conversation/brain.py), with Home Assistant's own conversation agent doing the work.

One Live session per conversation: opened when the conversation starts (wake word,
start_conversation), closed when it ends (the silence window after an answer, the stop word, mute);
never kept open idle, since it is billed per minute while open. The model decides itself when to
talk and when to stop; its audio is played as it arrives, grouped into answers by the pauses
between them: an answer goes on (one stream on the satellite) across the model's pauses until the
satellite has played its last words and ``ANSWER_GAP_S`` of silence after them, so nothing it said
is cut by the next answer's stream; when the user speaks over it and it falls silent
(``YIELD_S``), it stopped for them and the rest of that answer is silenced at once. When it
delegates (Live's client delegation carries no task text), the user's words since the model last
spoke go to HA's conversation agent (``conversation.async_converse`` with the satellite's device,
one HA conversation id per Live conversation, the agent chosen in options), and the agent's speech
goes back as commentary for the model to say; a delegation that fails in HA, or that HA has not
answered within ``DELEGATION_TIMEOUT_S``, comes back as an apology to speak. A session the service
closes ends the conversation wherever it was.

The Realtime brain stays beside it (``fallback``) for what Live does not do: ask_question's answer
(which HA, not the model, must hear), announcements (spoken word for word by a Realtime
out-of-band response: Live's commentary does not guarantee the wording), and every turn while the
key has no access to Live (a repair says so) or the Live session cannot be opened.

Without it (``fallback`` None: Live with the Assist pipeline as its fallback, no Realtime at all)
a Live session that cannot be opened refuses the turn with the cause (``live_cause``), before the
user's audio is taken, and the fallback brain (core/conversation/fallback.py) gives the same
utterance to the pipeline, probes Live (``probe``) and says why in its repair; ask_question's
turns and announcements are the pipeline's there too (the fallback brain routes them).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import numpy as np
from homeassistant.components import conversation
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import Context, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers import intent, template
from homeassistant.helpers import issue_registry as ir
from homeassistant.util.ssl import get_default_context

from .account import realtime_config
from .const import (
    CONF_API_KEY,
    CONF_INSTRUCTIONS,
    CONF_LIVE_AGENT,
    CONF_LIVE_MODEL,
    CONF_LIVE_URL,
    CONF_VOICE,
    DEFAULT_INSTRUCTIONS,
    DEFAULT_LIVE_MODEL,
    DEFAULT_LIVE_URL,
    DOMAIN,
)
from .core.conversation import brain as b
from .core.conversation.brain import (
    BrainAbilities,
    BrainEventHandler,
    SpeakError,
    Turn,
    TurnRefused,
)
from .core.link import protocol as link_protocol
from .core.link.log_limit import RateLimitedLog
from .core.live import (
    LiveAccessError,
    LiveAuthenticationError,
    LiveConnectionError,
    LiveError,
    LiveProtocolError,
    LiveSession,
    LiveSettings,
    cost_usd,
    open_live_session,
)
from .core.live import events as lv
from .core.live import registry as live_registry
from .core.realtime import RealtimeSession
from .realtime_brain import RealtimeBrain
from .session_keeper import Figures, SessionKeeper
from .tools import Toolset

_LOGGER = logging.getLogger(__name__)

LIVE_ABILITIES = BrainAbilities(cancel=False, truncate=False, full_duplex=True)
# No session open and no Realtime brain beside it: full duplex only once a session is.
CLOSED_ABILITIES = BrainAbilities(cancel=False, truncate=False)
# The fallback brain's cause (its sensor, its repair) when the key has no access to Live.
CAUSE_NO_ACCESS = "live_no_access"
# Server error codes that say the account or the service cannot serve now, as the Realtime ones
# (core/realtime/errors.py unavailable_cause).
_SERVER_CAUSES = {
    "insufficient_quota": "insufficient_quota",
    "rate_limit_exceeded": "rate_limited",
    "server_error": "server_error",
    "internal_error": "server_error",
}
# An answer ends when the satellite has played its last words and this much silence after them (the
# service streams its output all the time, silence between answers; the output carries no event that
# ends a turn). Before that, the model's voice resuming continues the same answer: a pause never cuts
# what is still playing.
ANSWER_GAP_S = 0.6
# The user spoke over the answer (their transcript reaches past its start) and the model fell silent
# this long: it stopped for them (barge-in is the model's), and what the satellite still holds of the
# answer is silenced.
YIELD_S = 0.3
# ... unless the model went on talking this long after the user's words ended (it let them pass:
# a "mm-hm", or its own echo transcribed): then a later pause of its own is not a barge-in.
YIELD_WINDOW_MS = 1000
# HA's agent has this long to handle a delegation; then the model is told to apologise (the
# conversation goes on; the engine's own answer watchdog, 30 s, must not end it first).
DELEGATION_TIMEOUT_S = 20.0
# Output samples at most this loud are the service's silence (zeros, in practice).
SILENCE_PEAK = 64
# A key without Live access is tried again after this long (a handshake: nothing is billed).
NO_ACCESS_RETRY_S = 6 * 3600.0
BYTES_PER_S = link_protocol.AUDIO_RATE * link_protocol.AUDIO_SAMPLE_BYTES
LIVE_PROMPT = (
    "You are the voice of a Home Assistant satellite named {name}. Whenever the user asks for "
    "something in the home (devices, their states, timers, lists, the weather, anything Home "
    "Assistant knows or does), delegate it: Home Assistant does it and its answer comes back to "
    "you as commentary; tell the user that answer briefly. Never claim to have done something in "
    "the home without it."
)
APOLOGY = (
    "Home Assistant could not handle the user's request ({reason}). Apologise briefly and say it "
    "was not done."
)
TIMEOUT_APOLOGY = (
    "Home Assistant did not finish the user's request within {seconds:g} seconds. Apologise "
    "briefly and say it may not have been done."
)


def live_cause(err: LiveError) -> str | None:
    """The fallback brain's cause when ``err`` says that Live cannot be reached or refuses this
    key; None for an error the pipeline would not mend either (a bad setting)."""
    if isinstance(err, LiveAccessError):
        return CAUSE_NO_ACCESS
    if isinstance(err, LiveAuthenticationError):
        return "invalid_api_key"
    if isinstance(err, LiveConnectionError):
        return "network"
    if isinstance(err, LiveProtocolError):
        return _SERVER_CAUSES.get(err.code)
    return None


def _issue_id(entry: ConfigEntry) -> str:
    return f"live_no_access_{entry.entry_id}"


class LiveBrain:
    """One satellite's GPT-Live conversations as the engine's brain, Realtime beside it."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        name: str,
        device_id: str | None,
        options: Callable[[], Mapping[str, Any]],
        fallback: RealtimeBrain | None,
    ) -> None:
        self._hass = hass
        self._entry = entry
        self._name = name
        self._device_id = device_id
        self._options = options
        self.fallback = fallback
        self._log = RateLimitedLog(_LOGGER, 60.0, burst=3)
        self._handler: BrainEventHandler | None = None
        self._turn: Turn | None = None
        self._live: LiveSession | None = None  # the open Live session (its turn is Live's)
        self._pump: asyncio.Task[None] | None = None
        self._no_access_until = 0.0
        self._refusing = False  # the last attempt to open a Live session failed
        self._own_figures = Figures()  # the cost of Live, without a Realtime brain to hold it
        # the conversation so far
        self._ha_conversation_id: str | None = None
        self._user_words: list[str] = []  # the user's words since the model last spoke
        self._last_request = ""  # what the user said before the model's last words
        self._user_speaking = False
        self._delegations: set[asyncio.Task[None]] = set()
        # the answer being played: its id, what it said, when (loop time) the satellite will have
        # played what was sent of it and its last words, where it began on the session timeline
        self._answer_id: str | None = None
        self._answer_words: list[str] = []
        self._answer_timer: asyncio.TimerHandle | None = None
        self._played_at = 0.0
        self._voiced_at = 0.0
        self._answer_start_ms: int | None = None
        self._answer_last_ms = -1  # where its latest words begin (session timeline)
        self._quiet_s = 0.0  # the model's silence since its last words
        self._user_end_ms = -1  # where the user's last transcript fragment ends (session timeline)
        self._on_fallback = False  # the current (or last) conversation is Realtime's
        self._live_conversation = False  # a Live conversation, until the engine dropped it
        self._billed: dict[str, float] = {}  # session id -> usage seconds already in the cost

    # --- what the manager and the entities read ------------------------------------------------

    @property
    def abilities(self) -> BrainAbilities:
        # Live's until the engine has ended its conversation (also one whose session the service
        # closed: the satellite's full-duplex listening must still be stopped).
        if self._live is not None or self._live_conversation:
            return LIVE_ABILITIES
        return CLOSED_ABILITIES if self.fallback is None else self.fallback.abilities

    @property
    def keeper(self) -> SessionKeeper | None:
        return None if self.fallback is None else self.fallback.keeper

    @property
    def session(self) -> RealtimeSession | None:
        return None if self.fallback is None else self.fallback.session

    @property
    def figures(self) -> Figures:
        return self._own_figures if self.fallback is None else self.fallback.figures

    @property
    def toolset(self) -> Toolset | None:
        return None if self.fallback is None else self.fallback.toolset

    @property
    def live_session(self) -> LiveSession | None:
        return self._live

    @property
    def live_model(self) -> str | None:
        """The Live model when Live answers (a session is open, or the next conversation opens
        one); None while the fallback answers (no access, or the last session could not open)."""
        if self._live is not None:
            return self._live.model
        if self._refusing or time.monotonic() < self._no_access_until:
            return None
        return str(self._options().get(CONF_LIVE_MODEL) or DEFAULT_LIVE_MODEL)

    def attach(self, handler: BrainEventHandler) -> None:
        self._handler = handler
        if self.fallback is not None:
            self.fallback.attach(self._from_fallback)

    async def _emit(self, event: b.BrainEvent) -> None:
        if self._handler is not None:
            await self._handler(event)

    async def _from_fallback(self, event: b.BrainEvent) -> None:
        # While Live has the conversation, the Realtime session's own news (a reconnect, a
        # replaced session) is not the conversation's.
        if self._live is None or isinstance(event, b.Changed):
            await self._emit(event)

    async def start(self) -> None:
        if self.fallback is not None:
            await self.fallback.start()

    async def stop(self) -> None:
        await self._close_live()
        if self.fallback is not None:
            await self.fallback.stop()

    async def probe(self) -> None:
        """Whether Live (else the Realtime brain beside it) serves a conversation again (the
        fallback brain asks, in the background): a session is opened and closed at once (billed
        per active minute: a moment), TurnRefused with the cause when it cannot be."""
        try:
            session = await open_live_session(self._settings(Turn("probe")))
        except LiveError as err:
            self._refused(err)
            if self.fallback is None:
                raise TurnRefused(f"error: {err.code}", cause=live_cause(err)) from err
            await self.fallback.probe()
            return
        self._access_ok()
        closed = await session.close()
        self._bill(session, closed.usage_seconds)
        self._billed.pop(session.session_id, None)

    # --- turns ---------------------------------------------------------------------------------

    async def start_turn(self, turn: Turn, take_audio: Callable[[], bytes]) -> None:
        self._turn = turn
        self._on_fallback = True
        self._live_conversation = False
        if self.fallback is not None and (
            turn.question or time.monotonic() < self._no_access_until
        ):
            # ask_question: HA hears the answer, the model must not respond to it (Live has no
            # way to hold its responses); no access: Realtime, as the repair says.
            await self.fallback.start_turn(turn, take_audio)
            return
        try:
            session = await open_live_session(self._settings(turn))
        except LiveError as err:
            self._refused(err)
            if self.fallback is None:  # the fallback brain's pipeline takes the utterance
                raise TurnRefused(f"error: {err.code}", cause=live_cause(err)) from err
            if self._turn is turn:  # the same utterance goes to Realtime (no audio was taken)
                await self.fallback.start_turn(turn, take_audio)
            return
        self._access_ok()
        if self._turn is not turn:  # the conversation ended while the session opened
            await session.close()
            return
        self._reset_conversation()
        self._on_fallback = False
        self._live_conversation = True
        self._live = session
        self._pump = self._hass.async_create_background_task(
            self._read(session), f"realtime_voice live {self._name}"
        )
        if pending := take_audio():
            await session.append_audio(pending)
        await self._emit(b.Changed())

    def _settings(self, turn: Turn) -> LiveSettings:
        options = self._options()
        config = realtime_config(self._hass, self._entry)
        model = str(options.get(CONF_LIVE_MODEL) or DEFAULT_LIVE_MODEL)
        voice = str(options.get(CONF_VOICE) or live_registry.DEFAULT_VOICE)
        if voice not in live_registry.VOICES:
            voice = live_registry.DEFAULT_VOICE
        return LiveSettings(
            api_key=config[CONF_API_KEY],
            url=str(options.get(CONF_LIVE_URL) or DEFAULT_LIVE_URL),
            model=model,
            voice=voice,
            instructions=self._instructions(options, turn),
            ssl_context=get_default_context(),
        )

    def _instructions(self, options: Mapping[str, Any], turn: Turn) -> str:
        parts = [
            template.Template(
                options.get(CONF_INSTRUCTIONS, DEFAULT_INSTRUCTIONS), self._hass
            ).async_render(parse_result=False),
            LIVE_PROMPT.format(name=self._name),
        ]
        if turn.extra_prompt:
            parts.append(turn.extra_prompt)
        return "\n\n".join(parts)

    @callback
    def _refused(self, err: LiveError) -> None:
        self._refusing = True
        if self.fallback is None:
            return  # the fallback brain logs it, probes Live and says why in its repair
        self._log.log(
            err.code,
            "Live is not available for %s (%s); the Realtime brain answers",
            self._name,
            err,
        )
        if isinstance(err, LiveAccessError):
            self._no_access_until = time.monotonic() + NO_ACCESS_RETRY_S
            ir.async_create_issue(
                self._hass,
                DOMAIN,
                _issue_id(self._entry),
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="live_no_access",
                translation_placeholders={
                    "name": self._entry.title,
                    "model": str(self._options().get(CONF_LIVE_MODEL) or DEFAULT_LIVE_MODEL),
                    "reason": err.message,
                },
            )

    @callback
    def _access_ok(self) -> None:
        self._no_access_until = 0.0
        self._refusing = False
        ir.async_delete_issue(self._hass, DOMAIN, _issue_id(self._entry))

    def _reset_conversation(self) -> None:
        self._ha_conversation_id = None
        self._user_words.clear()
        self._last_request = ""
        self._user_speaking = False
        self._user_end_ms = -1
        self._answer_id = None
        self._answer_start_ms = None
        self._answer_last_ms = -1
        self._quiet_s = 0.0
        self._answer_words.clear()

    async def send_audio(self, pcm: bytes) -> None:
        if self._live is not None:
            await self._live.append_audio(pcm)
        elif self._turn is not None and self.fallback is not None:
            await self.fallback.send_audio(pcm)

    async def next_turn(self) -> None:
        if self._live is None and self.fallback is not None:
            await self.fallback.next_turn()

    async def cancel(self) -> None:
        if self._live is None and self.fallback is not None:
            await self.fallback.cancel()

    async def truncate(self, answer_id: str, played_ms: int) -> None:
        if self._live is None and self.fallback is not None:
            await self.fallback.truncate(answer_id, played_ms)

    async def end_turn(self, *, answering: bool, listening: bool) -> None:
        self._turn = None
        if self._on_fallback:
            if self.fallback is not None:
                await self.fallback.end_turn(answering=answering, listening=listening)
            return
        await self._close_live()  # (nothing to close when the service closed it)

    async def _close_live(self) -> None:
        session, self._live = self._live, None
        self._stop_answer_timer()
        self._answer_id = None
        for task in list(self._delegations):
            task.cancel()
        if session is None:
            return
        # The service finishes the session (its final usage comes with session.closed); the
        # engine does not wait for it.
        self._hass.async_create_background_task(
            self._finish(session), f"realtime_voice live close {self._name}"
        )

    async def _finish(self, session: LiveSession) -> None:
        closed = await session.close()
        self._bill(session, closed.usage_seconds)
        self._billed.pop(session.session_id, None)
        await self._emit(b.Changed())

    def drop_context(self, done: Callable[[], None]) -> None:
        self._live_conversation = False
        if self._on_fallback and self.fallback is not None:
            self.fallback.drop_context(done)
        else:
            done()  # a Live session is the conversation's own: nothing stays behind

    def listen_at_least_s(self) -> float:
        if self._live is not None or self.fallback is None:
            return 0.0
        return self.fallback.listen_at_least_s()

    # --- announcements -------------------------------------------------------------------------

    def speak(self, text: str) -> AsyncIterator[bytes]:
        """Announcements are spoken by the Realtime brain, word for word (docs/architecture.md);
        without it, by the fallback brain's pipeline."""
        if self.fallback is None:
            return _cannot_speak()
        return self.fallback.speak(text)

    # --- Live events ---------------------------------------------------------------------------

    async def _read(self, session: LiveSession) -> None:
        async for event in session.events():
            if self._live is not session:
                if isinstance(event, lv.UsageUpdated):
                    self._bill(session, event.seconds)
                continue
            try:
                await self._on_live_event(session, event)
            except Exception:
                _LOGGER.exception("Live event %s on %s", type(event).__name__, self._name)

    async def _on_live_event(self, session: LiveSession, event: lv.LiveEvent) -> None:
        match event:
            case lv.InputTranscript(text=text, end_ms=end_ms):
                self._user_words.append(text)
                self._user_end_ms = max(self._user_end_ms, end_ms)
                if not self._user_speaking:
                    self._user_speaking = True
                    await self._emit(b.SpeechStarted())
            case lv.OutputAudio(pcm=pcm):
                await self._answer_audio(pcm)
            case lv.OutputTranscript(text=text, start_ms=start_ms):
                # (its first words may come just before its first audio; a late fragment of an
                # answer the user stopped begins before their words and does not count)
                self._answer_words.append(text)
                if self._answer_start_ms is None and (
                    self._answer_id is not None or start_ms >= self._user_end_ms
                ):
                    self._answer_start_ms = start_ms
                self._answer_last_ms = max(self._answer_last_ms, start_ms)
            case lv.DelegationCreated(delegation_id=delegation_id):
                await self._delegation(session, delegation_id)
            case lv.UsageUpdated(seconds=seconds):
                self._bill(session, seconds)
                await self._emit(b.Changed())
            case lv.ServiceError(code=code, message=message):
                self._log.log("error", "Live on %s reports %s: %s", self._name, code, message)
            case lv.Notice(code=code, message=message):
                _LOGGER.debug("Live on %s: %s (%s)", self._name, message, code)
            case lv.Closed(reason=reason, usage_seconds=seconds, error=error):
                await self._service_closed(session, reason, seconds, error)

    async def _service_closed(
        self, session: LiveSession, reason: str, seconds: float | None, error: LiveError | None
    ) -> None:
        """The service ended the session (its limit, a safety stop, a lost connection): the
        conversation ends here, whatever it was doing (an answer, a delegation)."""
        self._bill(session, seconds)
        _LOGGER.info("The Live session of %s closed: %s", self._name, error or reason)
        self._live = None
        for task in list(self._delegations):
            task.cancel()
        lost = error is not None or reason in ("connection_lost", "expired")
        # The open answer is not ended here (its stream would play out and the engine take that
        # for an answered turn): the conversation's end stops it on the satellite.
        self._answer_id = None
        self._stop_answer_timer()
        if words := "".join(self._answer_words).strip():
            self._answer_words.clear()
            await self._emit(b.AssistantSaid(words))
        if self._turn is not None:
            if lost:
                await self._emit(b.ConnectionLost())
            await self._emit(b.BrainClosed())
        await self._emit(b.Changed())

    def _user_said(self) -> str:
        """The user's words since the model last spoke, once (for the event and the agent)."""
        said = "".join(self._user_words).strip()
        self._user_words.clear()
        self._user_speaking = False
        if said:
            self._last_request = said
        return said

    def _heard_over(self) -> bool:
        """Whether the model is stopping for the user: a fragment of theirs ends after the answer
        began (both on the session timeline; a late fragment of what they said before it does not
        count), and the model has not talked on past their words since."""
        return (
            self._answer_start_ms is not None
            and self._user_end_ms > self._answer_start_ms
            and self._answer_last_ms <= self._user_end_ms + YIELD_WINDOW_MS
        )

    async def _answer_audio(self, pcm: bytes) -> None:
        now = asyncio.get_running_loop().time()
        seconds = len(pcm) / BYTES_PER_S
        loud = _loud(pcm)
        if self._answer_id is None:
            if not loud:
                return  # the silence between answers: nothing to play
            if said := self._user_said():
                await self._emit(b.UserSaid(said))
            await self._emit(b.SpeechStopped())
            self._answer_id = f"live_{uuid.uuid4().hex[:16]}"
            self._played_at = now
            await self._emit(b.AnswerStarted(self._answer_id))
        elif not loud:
            self._quiet_s += seconds
            if self._quiet_s >= YIELD_S and self._heard_over():
                await self._answer_over("stopped")
                return
        # The satellite plays what it gets back to back (an underrun waits for more).
        self._played_at = max(self._played_at, now) + seconds
        if loud:
            self._quiet_s = 0.0
            self._voiced_at = self._played_at
            # it ends when that has played and ANSWER_GAP_S after it, unless more voice comes
            self._stop_answer_timer()
            answer_id = self._answer_id
            self._answer_timer = asyncio.get_running_loop().call_at(
                self._voiced_at + ANSWER_GAP_S,
                lambda: self._hass.async_create_task(
                    self._answer_timed_out(answer_id), eager_start=True
                ),
            )
        await self._emit(b.AnswerAudio(self._answer_id, pcm))

    def _stop_answer_timer(self) -> None:
        if self._answer_timer is not None:
            self._answer_timer.cancel()
            self._answer_timer = None

    async def _answer_timed_out(self, answer_id: str) -> None:
        self._answer_timer = None
        if self._answer_id == answer_id:
            await self._answer_over("done")

    async def _answer_over(self, outcome: b.AnswerOutcome) -> None:
        """``done``: played whole; ``stopped``: the model stopped for the user (the engine silences
        the rest on the satellite)."""
        answer_id, self._answer_id = self._answer_id, None
        self._stop_answer_timer()
        if answer_id is None:
            return
        self._answer_start_ms = None
        if words := "".join(self._answer_words).strip():
            await self._emit(b.AssistantSaid(words))
        self._answer_words.clear()
        if outcome == "done":
            await self._emit(b.AnswerAudioDone(answer_id))
        else:
            # what the user says from now on is a new request (the follow-up listens for it)
            self._user_speaking = False
        await self._emit(b.AnswerDone(answer_id, outcome))

    async def _delegation(self, session: LiveSession, delegation_id: str) -> None:
        said = self._user_said()
        request = said or self._last_request
        if said:
            await self._emit(b.UserSaid(said))
        await self._emit(b.SpeechStopped())  # the request is whole: HA works on it
        await self._emit(b.Progress())
        task = self._hass.async_create_background_task(
            self._delegate(session, delegation_id, request),
            f"realtime_voice live delegation {self._name}",
        )
        self._delegations.add(task)
        task.add_done_callback(self._delegations.discard)

    async def _delegate(self, session: LiveSession, delegation_id: str, request: str) -> None:
        """HA's conversation agent does what the user asked; its answer goes back as commentary
        (an apology when it failed), so the model always has something to say."""
        if not request:
            await session.commentary(
                APOLOGY.format(reason="it did not hear what to do"), delegation_id
            )
            return
        agent_id = self._options().get(CONF_LIVE_AGENT) or conversation.HOME_ASSISTANT_AGENT
        try:
            async with asyncio.timeout(DELEGATION_TIMEOUT_S):
                result = await conversation.async_converse(
                    self._hass,
                    request,
                    self._ha_conversation_id,
                    Context(),
                    language=self._hass.config.language,
                    agent_id=agent_id,
                    device_id=self._device_id,
                    satellite_id=self._satellite_entity_id(),
                )
        except TimeoutError:
            self._log.log(
                "delegation",
                "Delegation on %s: %s did not answer within %g s",
                self._name,
                agent_id,
                DELEGATION_TIMEOUT_S,
            )
            await session.commentary(
                TIMEOUT_APOLOGY.format(seconds=DELEGATION_TIMEOUT_S), delegation_id
            )
            return
        except (HomeAssistantError, ValueError) as err:
            self._log.log("delegation", "Delegation on %s failed: %s", self._name, err)
            await session.commentary(APOLOGY.format(reason=str(err) or "an error"), delegation_id)
            return
        except Exception:
            _LOGGER.exception("Delegation on %s failed", self._name)
            await session.commentary(APOLOGY.format(reason="an internal error"), delegation_id)
            return
        self._ha_conversation_id = result.conversation_id
        response = result.response
        speech = response.speech.get("plain", {}).get("speech", "") if response.speech else ""
        if response.response_type == intent.IntentResponseType.ERROR:
            content = APOLOGY.format(reason=speech or str(response.error_code))
        else:
            content = f"Home Assistant's answer: {speech or 'done.'}"
        if self._turn is not None and self._live is session:
            await self._emit(b.Progress())
        await session.commentary(content, delegation_id)

    def _satellite_entity_id(self) -> str | None:
        if self._device_id is None:
            return None
        registry = er.async_get(self._hass)
        for entity in er.async_entries_for_device(registry, self._device_id):
            if entity.domain == "assist_satellite" and entity.platform == DOMAIN:
                return entity.entity_id
        return None

    def _bill(self, session: LiveSession, seconds: float | None) -> None:
        """The cost sensor: the session's cumulative usage seconds, each second counted once."""
        billed = self._billed.get(session.session_id, 0.0)
        if seconds is not None and seconds > billed:
            self.figures.total_cost_usd += cost_usd(session.model, seconds - billed)
            self._billed[session.session_id] = seconds


async def _cannot_speak() -> AsyncIterator[bytes]:
    raise SpeakError("Live speaks no announcements word for word")
    yield b""  # pragma: no cover (makes this an async generator)


def _loud(pcm: bytes) -> bool:
    """Whether ``pcm`` (PCM16) holds more than the service's silence."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    return bool(samples.size) and int(np.abs(samples.astype(np.int32)).max()) > SILENCE_PEAK
