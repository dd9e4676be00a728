"""The conversation on the satellite: microphone -> DSP -> wake word -> link, link -> player -> speaker.

Rules (docs/link-protocol.md has the events):
- On a wake word: ``wake``, ``listen_start``, then the audio from ``pre_roll_ms`` before the
  detection on, so that nothing said right after the wake word is lost; the optional chime plays
  meanwhile. Streaming ends when HA sends ``stop_listening`` (or after ``listen_timeout_s``).
- While the satellite speaks (any HA stream except a chime), nothing the microphone hears goes to
  HA, and only an active wake word at ``barge_in_threshold`` counts: it stops playback
  (``barge_in``, ``playback_stopped`` with ``played_ms``) and starts listening. The raised
  threshold holds for ``echo_guard_ms`` after playback too (the echo of the room and the device
  buffer). A detection where the answer itself says the wake word is ignored (:mod:`.echo`).
- A stop word (``wake_word.stop_words``, empty by default) is listened for only while the
  satellite speaks: it stops playback (``stop_word``, ``playback_stopped`` with ``played_ms``)
  and the satellite goes idle without listening; HA ends the conversation. The own-voice guard
  holds for it too.
- Echo cancellation (``audio.echo_cancellation``, :mod:`.echo_cancel`): the microphone signal
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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal

from .. import __version__
from ..audio import WAKE_RATE, AgcConfig, DspChain, WavError
from ..link import protocol as p
from ..link.log_limit import RateLimitedLog
from ..link.pairing import PairingWindow
from ..link.server import SatelliteLinkServer
from ..link.tls import LinkCertificate
from ..wakeword import Detection, WakeWordDetector, WakeWordError
from ..wakeword.detector import FrontEnd, create_front_end
from ..wakeword.microwakeword import resolve_config
from ..wakeword.openwakeword import resolve_model
from .audio_io import AudioSink, AudioSource, PushSource
from .capture import CaptureWorker
from .captured_reference import CapturedReference
from .config import ConfigError, SatelliteConfig
from .credentials import (
    link_certificate,
    read_access_key,
    state_dir,
    take_pair_request,
    write_access_key,
)
from .echo import OwnVoice
from .echo_cancel import echo_cancellation_on
from .errors import RepeatedErrors
from .hearing import Heard, Hearing, HearingState, wanted_thresholds
from .identity import satellite_id
from .mixer import Mixer
from .playback import Player, Stopped
from .played import PlaybackTap
from .sounds import load_chime
from .spoken_code import spoken_code
from .updater import Installer, UpdateError
from .voice import HeldBargeIn, VoiceBargeIn

_LOGGER = logging.getLogger(__name__)

LOCAL_CHIME = "local:chime"  # stream id of the wake chime; never reported to HA
LOCAL_PAIRING_CODE = "local:pairing-code"  # the spoken pairing code; never reported to HA either
LOCAL_STREAMS = (LOCAL_CHIME, LOCAL_PAIRING_CODE)
# How often the agent looks for a --pair request (a file in the state directory)
PAIR_REQUEST_POLL_S = 1.0
# With stop words and echo cancellation: how long a voice barge-in waits for the stop word, which
# the voice detector hears before the stop-word model has heard it whole (docs/satellite.md)
STOP_WORD_HOLD_S = 0.8
_SEND_QUEUE_LIMIT = 500  # about 10 s of audio frames; beyond that HA is not keeping up


class SatelliteAgent:
    """Runs one satellite: ``await agent.start()``, then ``await agent.stop()``."""

    def __init__(
        self,
        config: SatelliteConfig,
        source: AudioSource,
        sink: AudioSink,
        *,
        detector: WakeWordDetector | None = None,
        certificate: LinkCertificate | None = None,
        show_code: Callable[[str], None] | None = None,
    ) -> None:
        """``show_code``: also shows the spoken pairing code (the CLI's, on a terminal only)."""
        self.config = config
        # before the certificate: a state directory with one but no stored id ran before ids were
        # stored (identity.py)
        self.satellite_id = satellite_id(state_dir(config), config.link.port)
        self.source = source
        self.sink = sink
        wake = config.wake_word
        # the wake words' and the stop words' models hear the same signal: one front end
        self.front_end = None if detector is not None else self._shared_front_end()
        self.detector = detector or WakeWordDetector(
            list(wake.models),
            wake.threshold,
            trigger_level=wake.trigger_level,
            refractory_s=wake.refractory_s,
            warmup_s=wake.warmup_s,
            engine=wake.engine,  # type: ignore[arg-type]
            front_end=self.front_end,
        )
        self.active = self._check_active(wake.active or self.detector.names)
        # The guards hear the answers' audio (not the microphone's): one front end of their own.
        self.answer_front_end = (
            create_front_end(
                [*wake.models, *wake.stop_words],
                engine=wake.engine,  # type: ignore[call-overload]
            )
            if self.front_end is not None and wake.barge_in_threshold < 1.0
            else None
        )
        # Barge-in on (threshold under 1): a second detector listens to the answers themselves.
        self.own_voice = (
            OwnVoice(
                WakeWordDetector(
                    list(wake.models),
                    wake.threshold,
                    trigger_level=1,
                    refractory_s=0.5,
                    warmup_s=0.0,
                    engine=wake.engine,  # type: ignore[arg-type]
                    front_end=self.answer_front_end,
                )
            )
            if wake.barge_in_threshold < 1.0
            else None
        )
        self.stop_detector: WakeWordDetector | None = None
        self.stop_own_voice: OwnVoice | None = None
        if wake.stop_words:
            self._load_stop_words()
        self._last_answer: tuple[float, float] | None = None  # (loop time it ended, played ms)
        self._held: HeldBargeIn | None = None  # a voice barge-in waiting for a stop word
        self.threshold = wake.threshold
        self._configured_threshold = wake.threshold  # satellite.yaml's (None: each model's own)
        # Home Assistant's follow-up window, which it sets on every connect; only reported back.
        self.follow_up_s = 0.0
        self.chime = config.conversation.chime
        self.muted = config.conversation.muted
        try:
            self._chime_pcm = load_chime(config.conversation.chime_file)
        except WavError as err:
            raise ConfigError(f"conversation.chime_file: {err}") from err
        self.player = Player(
            sink.rate,
            prebuffer_ms=config.audio.prebuffer_ms,
            volume=config.audio.volume,
            on_finished=self._on_playback_finished,
        )
        # Music from HA's media player: a second layer under the voice, ducked by it (mixer.py).
        self.media = Player(
            sink.rate,
            prebuffer_ms=config.audio.prebuffer_ms,
            volume=config.audio.volume,
            on_finished=self._on_media_finished,
        )
        self.mixer = Mixer(self.player, self.media)
        # what the output really takes, voice and music: the echo canceller's reference (and file
        # mode's room)
        self.playback_tap = PlaybackTap(self.mixer.read, sink.rate)
        echo_on = echo_cancellation_on(config.audio)
        self.voice_barge_in: VoiceBargeIn | None = None
        try:
            if echo_on:
                self.voice_barge_in = VoiceBargeIn()
            # The canceller runs while an answer or announcement plays (and its tail), not
            # for a chime: AEC3 before it has converged cuts the start of the command the
            # user says over the wake chime, whose echo is short and harmless.
            reference = (
                CapturedReference(self.playback_tap.reader(WAKE_RATE, counts=self._speaking))
                if echo_on
                else None
            )
            self.dsp = DspChain(
                source.rate,
                highpass_hz=config.audio.highpass_hz,
                agc=AgcConfig() if config.audio.agc else None,
                noise_suppression=config.audio.noise_suppression,
                echo_reference=reference,
            )
        except ValueError as err:  # e.g. noise suppression without its library
            raise ConfigError(f"audio: {err}") from err
        # satellite.yaml's access key, else the paired one (credentials.py); satellite.yaml's
        # turns pairing off (it would win over a paired key)
        access_key = config.link.access_key or read_access_key(state_dir(config))
        self._show_code = show_code
        self.pairing = None if config.link.access_key else PairingWindow(self._say_code)
        self._pair_at_start = access_key is None
        self.server = SatelliteLinkServer(
            self,
            name=config.name,
            version=__version__,
            access_key=access_key,
            pairing=self.pairing,
            on_paired=self._store_access_key,
            # made in link.state_dir on first start (credentials.py)
            certificate=certificate or link_certificate(config),
            host=config.link.host,
            port=config.link.port,
            ping_interval=config.link.ping_interval_s,
            ping_timeout=config.link.ping_timeout_s,
        )
        self._pre_roll: deque[bytes] = deque()
        self._pre_roll_bytes = 0
        self._pre_roll_limit = config.conversation.pre_roll_ms * p.AUDIO_RATE * 2 // 1000
        self.listening: p.ListenReason | None = None
        self._listen_deadline = 0.0
        self._echo_guard_until = 0.0
        self._state: p.State | None = None
        self._outbox: asyncio.Queue[p.Message | bytes] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # Updating itself when HA asks (updater.py): the installer, the install under way, and
        # what tells the runner (cli.run_agent) to stop and re-execute the new version.
        self.installer = Installer()
        self._update_task: asyncio.Task[None] | None = None
        self.restart_requested = asyncio.Event()
        self._audio_errors = RepeatedErrors(_LOGGER, "acting on microphone audio")
        self._link_log = RateLimitedLog(_LOGGER, 60.0)  # what HA (the peer) can make us log
        self._capture = CaptureWorker(
            Hearing(
                self.dsp,
                self.detector,
                stop_detector=self.stop_detector,
                voice_barge_in=self.voice_barge_in,
                guards=self._own_voice_guards(),
                guards_front_end=self.answer_front_end,
            ),
            self._hearing_state(),
            reference=reference,
        )
        # for the benchmark: perf_counter() of the last detection
        self.last_detection_at = 0.0

    def _shared_front_end(self) -> FrontEnd | None:
        """One front end for the wake words and the stop words when both are of one engine:
        openWakeWord's mel spectrogram and embedding, or microWakeWord's features."""
        wake = self.config.wake_word
        if not wake.stop_words or (wake.stop_word_engine or wake.engine) != wake.engine:
            return None
        if wake.engine == "microwakeword":
            try:  # the same model twice is refused once the detectors have their names
                for model in wake.stop_words:
                    resolve_config(model)
            except WakeWordError as err:
                raise ConfigError(f"wake_word.stop_words: {err}") from err
            return create_front_end([*wake.models, *wake.stop_words], engine="microwakeword")
        try:
            stop_names = {resolve_model(m).stem for m in wake.stop_words}
        except WakeWordError as err:
            raise ConfigError(f"wake_word.stop_words: {err}") from err
        both = sorted(stop_names & {resolve_model(m).stem for m in wake.models})
        if both:
            raise ConfigError(
                f"wake_word.stop_words: {both[0]!r} is also a wake word; a model is one or the other"
            )
        return create_front_end([*wake.models, *wake.stop_words])

    def _load_stop_words(self) -> None:
        """The stop-word detector, and its own-voice guard on the answers' audio."""
        wake = self.config.wake_word
        engine = wake.stop_word_engine or wake.engine
        try:
            self.stop_detector = WakeWordDetector(
                list(wake.stop_words),
                wake.stop_word_threshold,
                # the models' recommended trigger levels go with their wake-word thresholds
                trigger_level=wake.trigger_level or 1,
                refractory_s=wake.refractory_s,
                warmup_s=wake.warmup_s,
                engine=engine,  # type: ignore[arg-type]
                front_end=self.front_end,
            )
            self.stop_own_voice = OwnVoice(
                WakeWordDetector(
                    list(wake.stop_words),
                    min(*self.detector.thresholds, wake.stop_word_threshold),
                    trigger_level=1,
                    refractory_s=0.5,
                    warmup_s=0.0,
                    engine=engine,  # type: ignore[arg-type]
                    front_end=self.answer_front_end,
                )
            )
        except WakeWordError as err:
            raise ConfigError(f"wake_word.stop_words: {err}") from err
        both = sorted(set(self.stop_detector.names) & set(self.detector.names))
        if both:
            raise ConfigError(
                f"wake_word.stop_words: {both[0]!r} is also a wake word; a model is one or the other"
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
        self.detector.close()
        extras = (self.own_voice, self.stop_detector, self.stop_own_voice)
        for extra in (*extras, self.front_end, self.answer_front_end):
            if extra is not None:
                extra.close()

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
        """Decide on one block the worker heard.

        What ran on the block followed ``heard.state``, the state the worker had when it took the
        block; the decisions follow the state now. The two differ only when the state changed in
        between (a few ms; longer after a blocked loop): a stop word or the voice then count only
        if the satellite still speaks, and a wake word is a barge-in only if it does.
        """
        pcm, now = heard.pcm, heard.captured_at
        if heard.state.muted or self.muted:
            return
        speaking = self._speaking()
        if speaking and heard.stop and self._heard_stop_word(heard.stop, pcm, now):
            self._held = None
            return  # a stop word wins over a barge-in in the same block, or a held one
        detections = heard.wake
        if self._holding(speaking, bool(detections), pcm, now):
            return
        if speaking and not detections and heard.voice is not None:
            voice = Detection("voice", now, heard.voice)
            if self._stop_words_on():  # it may be the stop word, not yet whole (voice.py)
                self._held = HeldBargeIn(voice, now + STOP_WORD_HOLD_S, [pcm])
            else:
                self._barge_in(voice, pcm)
            return
        if detections and not (self.listening and not speaking):
            best = max(detections, key=lambda d: d.score)
            if self._own_voice_explains(self.own_voice, best, now, ""):
                self._remember(pcm)
                return
            if speaking:
                self._barge_in(best, pcm)
            else:
                self._wake(best, pcm)
            return
        if self.listening and not speaking:
            if now > self._listen_deadline:
                self._end_listening("timeout")
            elif pcm:
                self._send(pcm)
        self._remember(pcm)

    def _holding(self, speaking: bool, wake_word: bool, pcm: bytes, now: float) -> bool:
        """A held voice barge-in: True while it waits for the stop word (or is released now);
        dropped, its audio kept in the pre-roll, when the answer ended or a wake word came."""
        held = self._held
        if held is None:
            return False
        if not speaking or wake_word:
            self._held = None
            for block in held.pcm:
                self._remember(block)
            return False
        if now < held.until:
            held.pcm.append(pcm)
            return True
        self._held = None
        self._barge_in(held.detection, b"".join([*held.pcm, pcm]))
        return True

    def _remember(self, pcm: bytes) -> None:
        if not self._pre_roll_limit or not pcm:
            return
        self._pre_roll.append(pcm)
        self._pre_roll_bytes += len(pcm)
        while self._pre_roll_bytes - len(self._pre_roll[0]) >= self._pre_roll_limit:
            self._pre_roll_bytes -= len(self._pre_roll.popleft())

    def _take_pre_roll(self, pcm: bytes) -> bytes:
        audio = b"".join(self._pre_roll) + pcm
        self._pre_roll.clear()
        self._pre_roll_bytes = 0
        return audio[-(self._pre_roll_limit + len(pcm)) :] if self._pre_roll_limit else pcm

    def _wake(self, detection: Detection, pcm: bytes) -> None:
        self.last_detection_at = time.perf_counter()
        if not self.server.connected:
            _LOGGER.warning(
                "wake word %s heard, but Home Assistant is not connected", detection.model
            )
            self._remember(pcm)
            return
        _LOGGER.info("wake word %s (score %.2f)", detection.model, detection.score)
        self._send(p.Wake(detection.model, round(detection.score, 4), round(detection.t, 3)))
        self._start_listening("wake", None, self._take_pre_roll(pcm))
        if self.chime and self.player.current is None:
            self.player.start(LOCAL_CHIME, "chime")
            self.player.feed(self._chime_pcm)
            self.player.end(LOCAL_CHIME)

    def _stop_words_on(self) -> bool:
        """Stop words need a detector (every link version HA speaks knows ``stop_word``)."""
        return self.stop_detector is not None

    def _heard_stop_word(self, detections: tuple[Detection, ...], pcm: bytes, now: float) -> bool:
        """The stop words heard in a block while speaking; True when one stopped the satellite."""
        best = max(detections, key=lambda d: d.score)
        if self._own_voice_explains(self.stop_own_voice, best, now, "stop word "):
            return False
        self._stop_word(best, pcm)
        return True

    def _own_voice_explains(
        self, guard: OwnVoice | None, detection: Detection, now: float, what: str
    ) -> bool:
        """True (and logged) when ``guard`` hears the detected model in the answer at the point
        the room is at: the satellite heard itself."""
        position = self._answer_position(now)
        if position is None or guard is None or not guard.explains(position):
            return False
        _LOGGER.info(
            "ignored %s%s at %.0f ms of the answer: the satellite's own voice",
            what,
            detection.model,
            position,
        )
        return True

    def _stop_word(self, detection: Detection, pcm: bytes) -> None:
        """Silence, and no new command: HA ends the conversation."""
        self._stop_playback_for(detection, p.StopWord, "stop_word")
        self._end_listening("stopped")  # nothing should be listening while speaking; be sure
        self._update_state()
        self._remember(pcm)

    def _barge_in(self, detection: Detection, pcm: bytes) -> None:
        self._stop_playback_for(detection, p.BargeIn, "barge_in")
        self._start_listening("barge_in", None, self._take_pre_roll(pcm))

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
        self.last_detection_at = time.perf_counter()
        self._send(event(detection.model, round(detection.score, 4), stream_id))
        self._report_stopped(self.player.stop(), reason)

    def _own_voice_guards(self) -> list[OwnVoice]:
        return [g for g in (self.own_voice, self.stop_own_voice) if g is not None]

    def _speaking(self) -> bool:
        current = self.player.current
        return current is not None and current[1] != "chime"

    def _answer_position(self, now: float) -> float | None:
        """Where in the current (or just ended) answer the room is, in ms; None: no answer near."""
        if self._speaking():
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
            speaking=self._speaking(),
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
        self, reason: p.ListenReason, timeout_s: float | None, first: bytes
    ) -> None:
        loop = asyncio.get_running_loop()
        self.listening = reason
        self.mixer.listening = True
        self._listen_deadline = loop.time() + (
            timeout_s or self.config.conversation.listen_timeout_s
        )
        self._send(p.ListenStart(reason))
        # frames the peer accepts (a long pre-roll, or a held barge-in's audio, is more)
        for start in range(0, len(first), p.MAX_AUDIO_FRAME_BYTES):
            self._send(first[start : start + p.MAX_AUDIO_FRAME_BYTES])
        self._update_state()

    def _end_listening(self, reason: p.ListenEndReason) -> None:
        if self.listening is None:
            return
        self.listening = None
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
        )

    def on_connected(self) -> None:
        self._state = self._current_state()
        self._publish()

    def on_disconnected(self) -> None:
        self.listening = None
        self.mixer.listening = False
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
            guards = self._own_voice_guards()
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
        match command:
            case p.Listen(timeout_s=timeout_s):
                if self.muted:
                    self._send(p.ListenEnd("muted"))
                elif self.listening is None:
                    self._start_listening("command", timeout_s, b"")
                else:  # already listening: only the deadline moves
                    loop = asyncio.get_running_loop()
                    self._listen_deadline = loop.time() + (
                        timeout_s or self.config.conversation.listen_timeout_s
                    )
            case p.StopListening():
                self._end_listening("stopped")
            case p.PlayStart(stream_id=stream_id, kind="media"):
                self._report_stopped(self.media.start(stream_id, "media"), "replaced")
            case p.PlayEnd(stream_id=stream_id) if self._is_media(stream_id):
                self.media.end(stream_id)
            case p.StopPlayback(stream_id=stream_id) if self._is_media(stream_id):
                self._report_stopped(self.media.stop(), "command")
            case p.PlayStart(stream_id=stream_id, kind=kind):
                if kind != "chime":
                    self._end_listening("stopped")
                self._report_stopped(self.player.start(stream_id, kind), "replaced")
                if kind != "chime":
                    for guard in self._own_voice_guards():
                        guard.begin()
                    self._capture.run(self._capture.hearing.answer_started, _nothing)
                self._update_state()
            case p.PlayEnd(stream_id=stream_id):
                self.player.end(stream_id)
            case p.StopPlayback(stream_id=stream_id):
                current = self.player.current
                if (
                    current is not None
                    and current[0] not in LOCAL_STREAMS
                    and stream_id in (None, current[0])
                ):
                    self._report_stopped(self.player.stop(), "command")
                    self._update_state()
            case p.SetMute(muted=muted):
                self.muted = muted
                if muted:
                    self._end_listening("muted")
                self._send_info()
            case p.SetVolume(volume=volume):
                self.player.volume = volume
                self.media.volume = volume
                self._send_info()
            case p.Configure() as configure:
                self._configure(configure)
            case p.Update(version=version):
                self._start_update(version)

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
        if self._speaking():
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
        return {"underruns": self.player.underruns, "state": self._current_state()}


def _nothing(_: object) -> None:
    return None
