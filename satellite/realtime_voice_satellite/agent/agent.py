"""The conversation on the satellite: microphone -> DSP -> wake word -> link, link -> player -> speaker.

Its states and what it does in each are on one page: states.py (:func:`.states.decide`). The
rules (docs/link-protocol.md has the events):
- On a wake word: ``wake``, ``listen_start``, then the audio from ``pre_roll_ms`` before the
  detection on, so that nothing said right after the wake word is lost; the optional chime plays
  meanwhile. Streaming ends when HA sends ``stop_listening`` (or after ``listen_timeout_s``).
- While the satellite speaks (any HA stream except a chime), nothing the microphone hears goes to
  HA, and only an active wake word at ``barge_in_threshold`` counts: it stops playback
  (``barge_in``, ``playback_stopped`` with ``played_ms``) and starts listening. The raised
  threshold holds for ``echo_guard_ms`` after playback too (the echo of the room and the device
  buffer). A detection where the answer itself says the wake word is ignored (:mod:`.own_voice`).
- Full duplex (link protocol 4: HA's ``listen`` with ``full_duplex``): the audio goes on to HA
  while the satellite speaks, until ``stop_listening``, through the echo gate (:mod:`.echo_gate`:
  what holds only the answer's residual echo goes attenuated); a wake word or a stop word stops
  the answer as above without a new ``listen_start``. The user's voice over the answer ducks it
  instead (the mixer's voice layer down, the stream whole): the brain hears the user and stops
  its answer (HA's ``stop_playback``); without that the answer comes back to full level
  ``UNDUCK_S`` after the last voice heard.
- A stop word (``wake_word.stop_words``, empty by default) is listened for only while the
  satellite speaks: it stops playback (``stop_word``, ``playback_stopped`` with ``played_ms``)
  and the satellite goes idle without listening; HA ends the conversation. The own-voice guard
  holds for it too.
- Echo cancellation (``audio.echo_cancellation``, :mod:`.echo_mode`): the microphone signal
  has the speaker's sound removed (the reference is what the output really took, through
  :class:`.played.PlaybackTap`). The wake word and stop words then hear the cancelled signal, and
  the user's voice alone interrupts an answer (:mod:`.voice`): ``barge_in`` with model
  ``voice``, then the same as a wake word's barge-in. With stop words, that barge-in is held
  ``STOP_WORD_HOLD_S`` first: a stop word heard meanwhile stops the answer as a stop word.
- Muted: the microphone is ignored (no wake word, no audio to HA); playback still works.

Threads: the audio processing (DSP, wake and stop words, the voice barge-in, the own-voice
guards) runs on the capture worker's thread (:mod:`.capture`, :mod:`.hearing`); the event loop
does the rest: it decides on what was heard (``_act``), keeps the state, and talks to HA. The loop
publishes its state to the worker (``_publish``) after everything that changes it.

The parts come made from the configuration (build.py, ``build_agent``); the agent wires them to
the link and carries out what states.py decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from .. import __version__
from ..audio import DspChain
from ..link import protocol as p
from ..link.log_limit import RateLimitedLog
from ..link.pairing import PairingWindow
from ..link.server import SatelliteLinkServer
from ..link.tls import LinkCertificate
from ..wakeword import Detection, WakeWordDetector
from ..wakeword.detector import FrontEnd
from .audio_io import AudioSink, AudioSource, PushSource
from .capture import CaptureWorker
from .config import ConfigError, SatelliteConfig
from .credentials import state_dir, take_pair_request, write_access_key
from .errors import RepeatedErrors
from .hearing import Heard, HearingState, wanted_thresholds
from .mixer import Mixer
from .own_voice import OwnVoice
from .played import PlaybackTap
from .player import Player, Stopped
from .spoken_code import spoken_code
from .states import Action, Facts, Trigger, decide
from .updater import Installer, UpdateError
from .voice import HeldBargeIn, VoiceBargeIn
from .words import Words

_LOGGER = logging.getLogger(__name__)

LOCAL_CHIME = "local:chime"  # stream id of the wake chime; never reported to HA
LOCAL_PAIRING_CODE = "local:pairing-code"  # the spoken pairing code; never reported to HA either
LOCAL_STREAMS = (LOCAL_CHIME, LOCAL_PAIRING_CODE)
# How often the agent looks for a --pair request (a file in the state directory)
PAIR_REQUEST_POLL_S = 1.0
# With stop words and echo cancellation: how long a voice barge-in waits for the stop word, which
# the voice detector hears before the stop-word model has heard it whole (docs/satellite.md)
STOP_WORD_HOLD_S = 0.8
# Full duplex: how long a ducked answer waits without the user's voice before it comes back to
# full level (the brain, hearing the user, stops it well before: HA's YIELD_S is 0.3 s)
UNDUCK_S = 1.0
_SEND_QUEUE_LIMIT = 500  # about 10 s of audio frames; beyond that HA is not keeping up


@dataclass(slots=True)
class Parts:
    """What the agent runs with, made from its configuration by :func:`.build.build_agent`."""

    source: AudioSource
    sink: AudioSink
    satellite_id: str
    words: Words
    chime: bytes  # the wake chime's PCM
    player: Player  # the voice: answers, announcements, chimes
    media: Player  # music from HA's media player, under the voice
    mixer: Mixer
    playback_tap: PlaybackTap  # what the output really took
    dsp: DspChain
    voice_barge_in: VoiceBargeIn | None
    capture: CaptureWorker
    access_key: str | None  # None: not paired yet
    certificate: LinkCertificate
    # the microphone's audio is echo-cancelled (the canceller, or an input device that cancels
    # echo itself): reported to HA (info.echo_cancellation, protocol 4)
    echo_cancelled: bool = False


class SatelliteAgent:
    """Runs one satellite: ``await agent.start()``, then ``await agent.stop()``."""

    def __init__(
        self,
        config: SatelliteConfig,
        parts: Parts,
        *,
        show_code: Callable[[str], None] | None = None,
    ) -> None:
        """``show_code``: also shows the spoken pairing code (the CLI's, on a terminal only)."""
        self.config = config
        self.parts = parts
        self.source, self.sink, self.satellite_id = parts.source, parts.sink, parts.satellite_id
        self.player, self.media, self.mixer = parts.player, parts.media, parts.mixer
        self.player.on_finished = self._on_playback_finished
        self.media.on_finished = self._on_media_finished
        self.playback_tap, self.dsp, self._capture = parts.playback_tap, parts.dsp, parts.capture
        wake = config.wake_word
        self.active = self._check_active(wake.active or self.detector.names)
        self.threshold = wake.threshold
        self._configured_threshold = wake.threshold  # satellite.yaml's (None: each model's own)
        # Home Assistant's follow-up window, which it sets on every connect; only reported back.
        self.follow_up_s = 0.0
        self.chime = config.conversation.chime
        # the facts states.py decides with (Facts), beside what the decisions need
        self.muted = config.conversation.muted
        self.listening: p.ListenReason | None = None
        self.full_duplex = False  # the open listen goes on while speaking (protocol 4)
        self._held: HeldBargeIn | None = None  # a voice barge-in waiting for a stop word
        self._ducked_until: float | None = None  # full duplex: the answer ducked until then
        self.ducks = 0  # answers ducked for the voice (full duplex), for the log and the tests
        self._listen_deadline = 0.0
        self._echo_guard_until = 0.0
        self._last_answer: tuple[float, float] | None = None  # (loop time it ended, played ms)
        self._pre_roll = PreRoll(config.conversation.pre_roll_ms * p.AUDIO_RATE * 2 // 1000)
        self._state: p.State | None = None  # the state HA was last told
        # the link: pairing by a spoken code unless satellite.yaml sets the access key (it would
        # win over a paired one)
        self._show_code = show_code
        self.pairing = None if config.link.access_key else PairingWindow(self._say_code)
        self._pair_at_start = parts.access_key is None
        self.server = SatelliteLinkServer(
            self,
            name=config.name,
            version=__version__,
            access_key=parts.access_key,
            pairing=self.pairing,
            on_paired=self._store_access_key,
            certificate=parts.certificate,
            host=config.link.host,
            port=config.link.port,
            ping_interval=config.link.ping_interval_s,
            ping_timeout=config.link.ping_timeout_s,
        )
        self._outbox: asyncio.Queue[p.Message | bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # Updating itself when HA asks (updater.py): the installer, the install under way, and
        # what tells the runner (commands/satellite.py, run_agent) to stop and re-execute the new version.
        self.installer = Installer()
        self._update_task: asyncio.Task[None] | None = None
        self.restart_requested = asyncio.Event()
        self._audio_errors = RepeatedErrors(_LOGGER, "acting on microphone audio")
        self._link_log = RateLimitedLog(_LOGGER, 60.0)  # what HA (the peer) can make us log
        self._capture.state = self._hearing_state()

    # the detectors (words.Words), by the names the tests and the benchmark know them by

    @property
    def detector(self) -> WakeWordDetector:
        return self.parts.words.detector

    @property
    def stop_detector(self) -> WakeWordDetector | None:
        return self.parts.words.stop_detector

    @property
    def own_voice(self) -> OwnVoice | None:
        return self.parts.words.own_voice

    @property
    def stop_own_voice(self) -> OwnVoice | None:
        return self.parts.words.stop_own_voice

    @property
    def front_end(self) -> FrontEnd | None:
        return self.parts.words.front_end

    @property
    def answer_front_end(self) -> FrontEnd | None:
        return self.parts.words.answer_front_end

    @property
    def facts(self) -> Facts:
        """The agent's state, as states.py decides with it."""
        return Facts(
            muted=self.muted,
            connected=self.server.connected,
            listening=self.listening is not None,
            speaking=self.player.speaking,
            holding=self._held is not None,
            ducked=self._ducked_until is not None,
            full_duplex=self.full_duplex,
        )

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.server.start()
        if isinstance(self.source, PushSource):
            # straight from PortAudio's thread to the worker: a busy loop cannot lose blocks
            self.source.attach(self._capture.submit_block)
        await self.source.start()
        await self.sink.start(self.playback_tap)
        self._capture.start()  # what the source captured meanwhile waits in its queue
        self._tasks = [
            asyncio.create_task(self._act_loop(), name="satellite-hearing"),
            asyncio.create_task(self._send_loop(), name="satellite-link-sender"),
        ]
        if not isinstance(self.source, PushSource):
            self._tasks.append(
                asyncio.create_task(self._microphone_loop(), name="satellite-microphone")
            )
        if self.pairing is not None:
            if take_pair_request(state_dir(self.config)) or self._pair_at_start:
                self._open_pairing("no access key yet" if self._pair_at_start else "--pair")
            self._tasks.append(
                asyncio.create_task(self._pair_requests(), name="satellite-pair-requests")
            )
        self._update_state()
        self._publish()

    async def stop(self) -> None:
        if self._update_task is not None:  # pip is killed, not left running alone
            self._tasks.append(self._update_task)
            self._update_task = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.server.stop()
        await self.sink.stop()
        await self.source.stop()
        if isinstance(self.source, PushSource):
            self.source.attach(None)
        await self._capture.stop()
        self.parts.words.close()

    # --- pairing -------------------------------------------------------------------------------

    def _open_pairing(self, why: str) -> None:
        assert self.pairing is not None
        self.pairing.open()
        _LOGGER.warning(
            "pairing mode is open for %g minutes (%s): add this satellite in Home Assistant, "
            "which asks for the code the satellite then speaks",
            self.pairing.window_s / 60,
            why,
        )

    async def _pair_requests(self) -> None:
        """``realtime-voice satellite --pair`` leaves a file in the state directory (it works as
        the service's user, or with sudo, without signalling the service): open pairing mode."""
        directory = state_dir(self.config)
        while True:
            await asyncio.sleep(PAIR_REQUEST_POLL_S)
            try:
                requested = take_pair_request(directory)
            except OSError as err:
                self._link_log.log("pair request", "cannot take the --pair request: %s", err)
                continue
            if requested:
                self._open_pairing("--pair")

    def _say_code(self, code: str) -> None:
        """Home Assistant asked for the code: speak it (and show it where the CLI may); the code
        is never logged."""
        if self._show_code is not None:
            self._show_code(code)
        self._report_stopped(self.player.start(LOCAL_PAIRING_CODE, "announcement"), "replaced")
        self.player.feed(spoken_code(code))
        self.player.end(LOCAL_PAIRING_CODE)
        self._update_state()
        self._publish()

    def _store_access_key(self, key: str) -> None:
        """A pairing made ``key``: it replaces the stored one (before the satellite proves it)."""
        try:
            write_access_key(state_dir(self.config), key)
        except ConfigError as err:
            raise OSError(str(err)) from None
        _LOGGER.warning("paired: the new access key is in %s", state_dir(self.config))

    # --- microphone ----------------------------------------------------------------------------

    async def _microphone_loop(self) -> None:
        """For sources the loop paces (WAV files): each block to the capture worker."""
        loop = asyncio.get_running_loop()
        while True:
            block = await self.source.read()
            self._capture.submit_block(block, loop.time())
            # A source that is behind (a WAV catching up) returns without suspending; yield so
            # that the rest of the loop is never starved.
            await asyncio.sleep(0)

    async def _act_loop(self) -> None:
        while True:
            heard = await self._capture.heard.get()
            try:
                self._act(heard)
            except Exception as err:  # one bad block must not end the satellite
                self._audio_errors.report(err)
            else:
                self._audio_errors.ok()
            self._publish()
            # After a blocked loop many results wait; yield so that the link sender keeps up.
            await asyncio.sleep(0)

    def _act(self, heard: Heard) -> None:
        """Decide on one block the worker heard (states.py), then do it.

        What ran on the block followed ``heard.state``, the state the worker had when it took the
        block; the decisions follow the state now. The two differ only when the state changed in
        between (a few ms; longer after a blocked loop): a stop word or the voice then count only
        if the satellite still speaks, and a wake word is a barge-in only if it does.
        """
        facts = replace(self.facts, muted=self.muted or heard.state.muted)
        for action in decide(facts, self._triggers(heard, facts)):
            self._do(action, heard)

    def _triggers(self, heard: Heard, facts: Facts) -> frozenset[Trigger]:
        """What one block brought, as states.py's triggers (the phase picks the one that counts)."""
        now = heard.captured_at
        found = {Trigger.AUDIO}
        if facts.muted:
            return frozenset(found)
        if heard.stop and facts.speaking:
            best = max(heard.stop, key=lambda d: d.score)
            if not self._own_voice_explains(self.stop_own_voice, best, now, "stop word "):
                found.add(Trigger.STOP_WORD)
        if heard.wake:
            if self._own_position(self.own_voice, now) is not None:  # logged if it counts
                found.add(Trigger.OWN_WAKE_WORD)
            else:
                found.add(Trigger.WAKE_WORD)
        if self._held is not None and now >= self._held.until:
            found.add(Trigger.HOLD_OVER)
        if heard.voice is not None:
            found.add(Trigger.VOICE_WITH_STOP_WORDS if self._stop_words_on() else Trigger.VOICE)
        elif self._ducked_until is not None and now >= self._ducked_until:
            found.add(Trigger.DUCK_OVER)
        if facts.listening and now > self._listen_deadline:
            found.add(Trigger.LISTEN_TIMEOUT)
        return frozenset(found)

    def _do(self, action: Action, heard: Heard) -> None:
        """Carry out one of states.py's actions on a block."""
        pcm, now = heard.pcm, heard.captured_at
        detection = (
            max(heard.wake, key=lambda d: d.score)
            if heard.wake
            else Detection("voice", now, heard.voice or 0.0)
        )
        match action:
            case Action.KEEP:
                self._pre_roll.add(pcm)
            case Action.SEND if pcm:
                self._send(pcm)
            case Action.SEND_GATED if pcm:
                self._send(heard.gated if heard.gated is not None else pcm)
            case Action.WAKE:
                self._wake(detection, pcm)
            case Action.LOG_WAKE_OFFLINE:
                _LOGGER.warning(
                    "wake word %s heard, but Home Assistant is not connected", detection.model
                )
            case Action.IGNORE_OWN_VOICE:
                self._own_voice_explains(self.own_voice, detection, now, "")
            case Action.BARGE_IN:
                self._barge_in(detection, pcm)
            case Action.STOP_WORD:
                self._stop_word(max(heard.stop, key=lambda d: d.score))
            case Action.HOLD:
                self._held = HeldBargeIn(detection, now + STOP_WORD_HOLD_S, [pcm])
            case Action.HOLD_BLOCK:
                assert self._held is not None
                self._held.pcm.append(pcm)
            case Action.RELEASE_HOLD:
                assert self._held is not None
                held, self._held = self._held, None
                self._barge_in(held.detection, b"".join([*held.pcm, pcm]))
            case Action.DROP_HOLD:
                assert self._held is not None
                for block in self._held.pcm:
                    self._pre_roll.add(block)
                self._held = None
            case Action.FORGET_HOLD:
                self._held = None
            case Action.INTERRUPT:
                self._stop_playback_for(detection, p.BargeIn, "barge_in")
            case Action.DUCK:
                if self._ducked_until is None:
                    self.ducks += 1
                    self.mixer.voice_ducked = True
                    current = self.player.current
                    _LOGGER.info(
                        "the voice over the answer (score %.2f): ducking %s at %.0f ms",
                        detection.score,
                        current[0] if current else None,
                        self.player.position_ms,
                    )
                self._ducked_until = now + UNDUCK_S
            case Action.UNDUCK:
                self._unduck()
            case Action.END_LISTENING_TIMEOUT:
                self._end_listening("timeout")

    def _unduck(self) -> None:
        if self._ducked_until is None:
            return
        self._ducked_until = None
        self.mixer.voice_ducked = False
        if self.player.speaking:
            _LOGGER.info("the answer's duck ends")

    def _wake(self, detection: Detection, pcm: bytes) -> None:
        _LOGGER.info("wake word %s (score %.2f)", detection.model, detection.score)
        self._send(p.Wake(detection.model, round(detection.score, 4), round(detection.t, 3)))
        self._start_listening("wake", None, self._pre_roll.take(pcm))
        if self.chime and self.player.current is None:
            self.player.start(LOCAL_CHIME, "chime")
            self.player.feed(self.parts.chime)
            self.player.end(LOCAL_CHIME)

    def _stop_words_on(self) -> bool:
        """Stop words need a detector (every link version HA speaks knows ``stop_word``)."""
        return self.stop_detector is not None

    def _own_position(self, guard: OwnVoice | None, now: float) -> float | None:
        """Where in the answer (ms) the room is, when ``guard`` hears its model said there: the
        satellite heard itself. None: it did not."""
        position = self._answer_position(now)
        if position is None or guard is None or not guard.explains(position):
            return None
        return position

    def _own_voice_explains(
        self, guard: OwnVoice | None, detection: Detection, now: float, what: str
    ) -> bool:
        """True (and logged) when ``guard`` hears the detected model in the answer at the point
        the room is at."""
        position = self._own_position(guard, now)
        if position is None:
            return False
        _LOGGER.info(
            "ignored %s%s at %.0f ms of the answer: the satellite's own voice",
            what,
            detection.model,
            position,
        )
        return True

    def _stop_word(self, detection: Detection) -> None:
        """Silence, and no new command: HA ends the conversation."""
        self._stop_playback_for(detection, p.StopWord, "stop_word")
        self._end_listening("stopped")  # nothing should be listening while speaking; be sure
        self._update_state()

    def _barge_in(self, detection: Detection, pcm: bytes) -> None:
        self._stop_playback_for(detection, p.BargeIn, "barge_in")
        self._start_listening("barge_in", None, self._pre_roll.take(pcm))

    def _stop_playback_for(
        self,
        detection: Detection,
        event: type[p.BargeIn] | type[p.StopWord],
        reason: Literal["barge_in", "stop_word"],
    ) -> None:
        """Tell HA what was heard during playback, then stop the playback and report where."""
        current = self.player.current
        stream_id = current[0] if current and current[0] not in LOCAL_STREAMS else None
        _LOGGER.info(
            "%s: %s (score %.2f) during %s", reason, detection.model, detection.score, stream_id
        )
        self._send(event(detection.model, round(detection.score, 4), stream_id))
        self._report_stopped(self.player.stop(), reason)

    def _answer_position(self, now: float) -> float | None:
        """Where in the current (or just ended) answer the room is, in ms; None: no answer near."""
        if self.player.speaking:
            return self.player.position_ms
        if self._last_answer is not None and now < self._echo_guard_until:
            ended_at, played_ms = self._last_answer
            return played_ms + (now - ended_at) * 1000
        return None

    def _apply_threshold(self, guarded: bool) -> None:
        """Set the detector's thresholds now (the worker sets them per block from the state)."""
        threshold = self.config.wake_word.barge_in_threshold if guarded else self.threshold
        self.detector.thresholds = wanted_thresholds(self.detector, threshold)

    def _hearing_state(self) -> HearingState:
        return HearingState(
            muted=self.muted,
            speaking=self.player.speaking,
            echo_guard_until=self._echo_guard_until,
            thresholds=wanted_thresholds(self.detector, self.threshold),
            guarded_thresholds=wanted_thresholds(
                self.detector, self.config.wake_word.barge_in_threshold
            ),
            active=frozenset(self.active),
            stop_words_on=self._stop_words_on(),
        )

    def _publish(self) -> None:
        """The state, for the capture worker's next block (see :class:`.hearing.HearingState`)."""
        state = self._hearing_state()
        if state != self._capture.state:
            self._capture.state = state

    # --- listening -----------------------------------------------------------------------------

    def _start_listening(
        self,
        reason: p.ListenReason,
        timeout_s: float | None,
        first: bytes,
        *,
        full_duplex: bool = False,
    ) -> None:
        self.listening = reason
        self.full_duplex = full_duplex
        self.mixer.listening = True
        self._listen_deadline = self._deadline(timeout_s)
        self._send(p.ListenStart(reason))
        # frames the peer accepts (a long pre-roll, or a held barge-in's audio, is more)
        for start in range(0, len(first), p.MAX_AUDIO_FRAME_BYTES):
            self._send(first[start : start + p.MAX_AUDIO_FRAME_BYTES])
        self._update_state()

    def _deadline(self, timeout_s: float | None) -> float:
        loop = asyncio.get_running_loop()
        return loop.time() + (timeout_s or self.config.conversation.listen_timeout_s)

    def _end_listening(self, reason: p.ListenEndReason) -> None:
        if self.listening is None:
            return
        self.listening = None
        self.full_duplex = False
        self.mixer.listening = False
        self._send(p.ListenEnd(reason))
        self._update_state()

    # --- playback ------------------------------------------------------------------------------

    def _is_media(self, stream_id: str | None) -> bool:
        current = self.media.current
        return stream_id is not None and current is not None and current[0] == stream_id

    def _on_media_finished(self, stream_id: str, kind: p.PlayKind, played_ms: int) -> None:
        self._send(p.PlaybackFinished(stream_id, played_ms))

    def _on_playback_finished(self, stream_id: str, kind: p.PlayKind, played_ms: int) -> None:
        if stream_id not in LOCAL_STREAMS:
            self._send(p.PlaybackFinished(stream_id, played_ms))
        if kind != "chime":
            self._start_echo_guard(played_ms)
        self._update_state()
        self._publish()

    def _report_stopped(self, stopped: Stopped | None, reason: str) -> None:
        if stopped is None or stopped.stream_id in LOCAL_STREAMS:
            return
        self._send(p.PlaybackStopped(stopped.stream_id, stopped.played_ms, reason))  # type: ignore[arg-type]
        if stopped.kind != "chime":
            self._start_echo_guard(stopped.played_ms)

    def _start_echo_guard(self, played_ms: int) -> None:
        loop = asyncio.get_running_loop()
        self._echo_guard_until = loop.time() + self.config.conversation.echo_guard_ms / 1000
        self._last_answer = (loop.time(), played_ms)

    # --- link (LinkHandler) --------------------------------------------------------------------

    def link_info(self) -> p.Info:
        return p.Info(
            name=self.config.name,
            satellite_id=self.satellite_id,
            version=__version__,
            protocol=self.server.protocol,
            wake_words_available=self.detector.names,
            wake_words_active=list(self.active),
            threshold=(
                max(self.detector.recommended_thresholds)
                if self.threshold is None
                else self.threshold
            ),
            follow_up_s=self.follow_up_s,
            chime=self.chime,
            muted=self.muted,
            volume=self.player.volume,
            state=self._current_state(),
            echo_cancellation=(
                self.parts.echo_cancelled
                if self.server.protocol >= p.FULL_DUPLEX_VERSION
                else None  # a peer of protocol 3 refuses the key
            ),
        )

    def on_connected(self) -> None:
        self._state = self._current_state()
        self._publish()

    def on_disconnected(self) -> None:
        self.listening = None
        self.full_duplex = False
        self.mixer.listening = False
        self._unduck()
        self.player.stop()  # an answer nobody can stop or truncate any more
        self.media.stop()  # music nobody can stop any more
        while not self._outbox.empty():
            self._outbox.get_nowait()
            self._outbox.task_done()
        self._update_state()
        self._publish()

    def on_media_audio(self, pcm: bytes) -> None:
        self.media.feed(pcm)

    def on_audio(self, pcm: bytes) -> None:
        current = self.player.current
        if current is not None and current[0] not in LOCAL_STREAMS:
            self.player.feed(pcm)
            guards = self.parts.words.guards
            if current[1] != "chime" and guards:
                answers = [guard.answer for guard in guards]

                def add(hits: list[list[float]]) -> None:
                    for guard, answer, found in zip(guards, answers, hits, strict=True):
                        guard.add(answer, found)

                self._capture.submit_answer(pcm, add)

    async def on_command(self, command: p.Command) -> None:
        self._command(command)
        self._publish()

    def _command(self, command: p.Command) -> None:
        """Media, volume, configuration and updates leave the phase alone; the rest goes through
        states.py."""
        match command:
            case p.PlayStart(stream_id=stream_id, kind="media"):
                self._report_stopped(self.media.start(stream_id, "media"), "replaced")
            case p.PlayEnd(stream_id=stream_id) if self._is_media(stream_id):
                self.media.end(stream_id)
            case p.StopPlayback(stream_id=stream_id) if self._is_media(stream_id):
                self._report_stopped(self.media.stop(), "command")
            case p.PlayEnd(stream_id=stream_id):
                self.player.end(stream_id)
            case p.SetVolume(volume=volume):
                self.player.volume = volume
                self.media.volume = volume
                self._send_info()
            case p.Configure() as configure:
                self._configure(configure)
            case p.Update(version=version):
                self._start_update(version)
            case _:
                trigger = self._trigger(command)
                if trigger is not None:
                    for action in decide(self.facts, trigger):
                        self._do_command(action, command)

    def _trigger(self, command: p.Command) -> Trigger | None:
        match command:
            case p.Listen():
                return Trigger.LISTEN
            case p.StopListening():
                return Trigger.STOP_LISTENING
            case p.PlayStart(kind="chime"):
                return Trigger.PLAY_CHIME
            case p.PlayStart():
                return Trigger.PLAY
            case p.StopPlayback(stream_id=stream_id):
                current = self.player.current  # what HA plays, not the satellite's own sounds
                if current is None or current[0] in LOCAL_STREAMS:
                    return None
                return Trigger.STOP_PLAYBACK if stream_id in (None, current[0]) else None
            case p.SetMute(muted=muted):
                return Trigger.MUTE if muted else Trigger.UNMUTE
        return None

    def _do_command(self, action: Action, command: p.Command) -> None:
        """Carry out one of states.py's actions on a command."""
        match action, command:
            case Action.LISTEN, p.Listen(timeout_s=timeout_s, full_duplex=full_duplex):
                if self.listening is None:
                    self._start_listening("command", timeout_s, b"", full_duplex=bool(full_duplex))
                else:  # already listening: the deadline moves, and full duplex is the new one's
                    self._listen_deadline = self._deadline(timeout_s)
                    self.full_duplex = bool(full_duplex)
            case Action.REFUSE_LISTEN, _:
                self._send(p.ListenEnd("muted"))
            case Action.END_LISTENING, _:
                self._end_listening("stopped")
            case Action.START_ANSWER, p.PlayStart(stream_id=stream_id, kind=kind):
                self._report_stopped(self.player.start(stream_id, kind), "replaced")
                for guard in self.parts.words.guards:
                    guard.begin()
                self._capture.run(self._capture.hearing.answer_started, _nothing)
                self._update_state()
            case Action.START_CHIME, p.PlayStart(stream_id=stream_id):
                self._report_stopped(self.player.start(stream_id, "chime"), "replaced")
                self._update_state()
            case Action.STOP_PLAYBACK, _:
                self._report_stopped(self.player.stop(), "command")
                self._update_state()
            case Action.UNDUCK, _:
                self._unduck()
            case Action.SET_MUTED, _:
                self.muted = True
            case Action.END_LISTENING_MUTED, _:
                self._end_listening("muted")
            case Action.SET_UNMUTED, _:
                self.muted = False
            case Action.SEND_INFO, _:
                self._send_info()

    def _configure(self, command: p.Configure) -> None:
        if command.wake_words_active is not None:
            try:
                self.active = self._check_active(command.wake_words_active)
            except ValueError as err:
                self._send(p.Error("bad_command", str(err)))
                return
        if command.threshold is not None or command.own_threshold:
            self.threshold = (
                self._configured_threshold if command.own_threshold else command.threshold
            )
            self.config = replace(
                self.config, wake_word=replace(self.config.wake_word, threshold=self.threshold)
            )
        if command.follow_up_s is not None:
            self.follow_up_s = command.follow_up_s
        if command.chime is not None:
            self.chime = command.chime
        self._send_info()

    def _check_active(self, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in self.detector.names]
        if unknown:
            raise ValueError(
                f"wake_words_active: {unknown[0]!r} is not loaded (available: {', '.join(self.detector.names)})"
            )
        return list(names)

    # --- state and sending ---------------------------------------------------------------------

    def _current_state(self) -> p.State:
        if self.muted:
            return "muted"
        if self.player.speaking:
            return "responding"
        if self.listening:
            return "listening"
        return "idle"

    def _update_state(self) -> None:
        state = self._current_state()
        if state != self._state:
            self._state = state
            self._send(p.StateChanged(state))

    def _send_info(self) -> None:
        self._update_state()
        self._send(self.link_info())

    def _send(self, message: p.Message | bytes) -> None:
        """Queue for HA in order (events and audio share one queue); dropped without HA."""
        if not self.server.connected:
            return
        if self._outbox.qsize() >= _SEND_QUEUE_LIMIT:
            self._link_log.log(
                "not keeping up", "Home Assistant is not keeping up; dropping link data"
            )
            return
        self._outbox.put_nowait(message)

    async def _send_loop(self) -> None:
        while True:
            item = await self._outbox.get()
            try:
                if isinstance(item, bytes):
                    await self.server.send_audio(item)
                else:
                    await self.server.send_event(item)
            finally:
                self._outbox.task_done()

    # --- updating itself (updater.py) -----------------------------------------------------------

    def _start_update(self, version: str) -> None:
        if self._update_task is not None and not self._update_task.done():
            self._send(p.UpdateProgress(version, "failed", error="an update is already under way"))
            return
        _LOGGER.info("Home Assistant asked to update to %s (running %s)", version, __version__)
        self._update_task = asyncio.create_task(self._update(version), name="satellite-update")

    async def _update(self, version: str) -> None:
        """Install ``version``; on success restart in place, else report why and go on."""
        try:
            await self.installer.install(version, self._send)
        except UpdateError as err:
            _LOGGER.warning("update to %s failed, %s goes on: %s", version, __version__, err)
            self._send(p.UpdateProgress(version, "failed", error=str(err)))
            return
        except Exception as err:  # whatever it is, the running version goes on
            _LOGGER.exception("update to %s failed", version)
            self._send(p.UpdateProgress(version, "failed", error=f"{type(err).__name__}: {err}"))
            return
        _LOGGER.info("installed %s; restarting to run it", version)
        self._send(p.UpdateProgress(version, "restarting", 100))
        # HA hears that before the link closes (it then waits for the new version's hello)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self._outbox.join()
        self.restart_requested.set()

    def stats(self) -> dict[str, Any]:
        return {
            "underruns": self.player.underruns,
            "state": self._current_state(),
            "ducks": self.ducks,
        }


def _nothing(_: object) -> None:
    return None


class PreRoll:
    """The last ``limit`` bytes the microphone heard (whole blocks; 0: none kept), so that a
    wake word's or a barge-in's listening starts ``pre_roll_ms`` before it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.blocks: deque[bytes] = deque()
        self._bytes = 0

    def add(self, pcm: bytes) -> None:
        if not self.limit or not pcm:
            return
        self.blocks.append(pcm)
        self._bytes += len(pcm)
        while self._bytes - len(self.blocks[0]) >= self.limit:
            self._bytes -= len(self.blocks.popleft())

    def take(self, pcm: bytes) -> bytes:
        """The kept audio and ``pcm`` after it (at most ``limit`` before ``pcm``); then empty."""
        audio = b"".join(self.blocks) + pcm
        self.blocks.clear()
        self._bytes = 0
        return audio[-(self.limit + len(pcm)) :] if self.limit else pcm
