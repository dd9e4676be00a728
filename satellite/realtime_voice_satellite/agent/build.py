"""The composition root: the satellite's parts made from its configuration, then the agent.

:func:`build_agent` is the one place that knows which part needs which: the wake-word and
stop-word detectors and their own-voice guards (:class:`Words`), the output (voice over media,
and the tap that tells the echo canceller what played), the DSP chain, the capture worker, the
access key and the link's certificate. The agent (agent.py) only wires them to the link.
"""

from __future__ import annotations

from collections.abc import Callable

from ..audio import WAKE_RATE, AgcConfig, DspChain, WavError
from ..link.tls import LinkCertificate
from ..wakeword import WakeWordDetector, WakeWordError
from ..wakeword.detector import FrontEnd, create_front_end
from ..wakeword.microwakeword import resolve_config
from ..wakeword.openwakeword import resolve_model
from .agent import Parts, SatelliteAgent
from .audio_io import AudioSink, AudioSource
from .capture import CaptureWorker
from .captured_reference import CapturedReference
from .config import ConfigError, SatelliteConfig, WakeWordConfig
from .credentials import link_certificate, read_access_key, state_dir
from .echo_mode import echo_cancellation_on, input_cancels_echo
from .hearing import Hearing, HearingState
from .identity import satellite_id
from .mixer import Mixer
from .own_voice import OwnVoice
from .played import PlaybackTap
from .player import Player
from .sounds import load_chime
from .voice import VoiceBargeIn
from .words import Words


def build_agent(
    config: SatelliteConfig,
    source: AudioSource,
    sink: AudioSink,
    *,
    detector: WakeWordDetector | None = None,
    certificate: LinkCertificate | None = None,
    show_code: Callable[[str], None] | None = None,
) -> SatelliteAgent:
    """``detector``: a ready wake-word detector (tests, the benchmark) instead of the configured
    models; ``show_code``: also shows the spoken pairing code (the CLI's, on a terminal only)."""
    # before the certificate: a state directory with one but no stored id ran before ids were
    # stored (identity.py)
    identity = satellite_id(state_dir(config), config.link.port)
    words = load_words(config.wake_word, detector)
    try:
        chime = load_chime(config.conversation.chime_file)
    except WavError as err:
        raise ConfigError(f"conversation.chime_file: {err}") from err
    audio = config.audio
    player = Player(sink.rate, prebuffer_ms=audio.prebuffer_ms, volume=audio.volume)
    # Music from HA's media player: a second layer under the voice, ducked by it (mixer.py).
    media = Player(sink.rate, prebuffer_ms=audio.prebuffer_ms, volume=audio.volume)
    mixer = Mixer(player, media)
    # what the output really takes, voice and music: the echo canceller's reference (and file
    # mode's room)
    tap = PlaybackTap(mixer.read, sink.rate)
    echo_on = echo_cancellation_on(audio)
    try:
        voice_barge_in = VoiceBargeIn() if echo_on else None
        # The canceller runs while an answer or announcement plays (and its tail), not for a
        # chime: AEC3 before it has converged cuts the start of the command the user says over
        # the wake chime, whose echo is short and harmless.
        reference = (
            CapturedReference(tap.reader(WAKE_RATE, counts=lambda: player.speaking))
            if echo_on
            else None
        )
        dsp = DspChain(
            source.rate,
            highpass_hz=audio.highpass_hz,
            agc=AgcConfig() if audio.agc else None,
            noise_suppression=audio.noise_suppression,
            echo_reference=reference,
        )
    except ValueError as err:  # e.g. noise suppression without its library
        raise ConfigError(f"audio: {err}") from err
    hearing = Hearing(
        dsp,
        words.detector,
        stop_detector=words.stop_detector,
        voice_barge_in=voice_barge_in,
        guards=words.guards,
        guards_front_end=words.answer_front_end,
    )
    parts = Parts(
        source=source,
        sink=sink,
        satellite_id=identity,
        words=words,
        chime=chime,
        player=player,
        media=media,
        mixer=mixer,
        playback_tap=tap,
        dsp=dsp,
        voice_barge_in=voice_barge_in,
        # the agent publishes its state before the first block
        capture=CaptureWorker(hearing, HearingState(), reference=reference),
        # satellite.yaml's access key, else the paired one (credentials.py)
        access_key=config.link.access_key or read_access_key(state_dir(config)),
        # made in link.state_dir on first start (credentials.py)
        certificate=certificate or link_certificate(config),
        echo_cancelled=echo_on or input_cancels_echo(audio),
    )
    return SatelliteAgent(config, parts, show_code=show_code)


def load_words(wake: WakeWordConfig, detector: WakeWordDetector | None = None) -> Words:
    # the wake words' and the stop words' models hear the same signal: one front end
    front_end = None if detector is not None else _shared_front_end(wake)
    words = Words(
        detector
        or WakeWordDetector(
            list(wake.models),
            wake.threshold,
            trigger_level=wake.trigger_level,
            refractory_s=wake.refractory_s,
            warmup_s=wake.warmup_s,
            engine=wake.engine,  # type: ignore[arg-type]
            front_end=front_end,
        ),
        front_end=front_end,
    )
    barge_in = wake.barge_in_threshold < 1.0
    # The guards hear the answers' audio (not the microphone's): one front end of their own.
    if front_end is not None and barge_in:
        words.answer_front_end = create_front_end(
            [*wake.models, *wake.stop_words],
            engine=wake.engine,  # type: ignore[call-overload]
        )
    if barge_in:  # a second detector listens to the answers themselves
        words.own_voice = _guard(list(wake.models), wake.threshold, wake.engine, words)
    if wake.stop_words:
        _load_stop_words(wake, words)
    return words


def _guard(
    models: list[str],
    threshold: float | None,
    engine: str,
    words: Words,
) -> OwnVoice:
    return OwnVoice(
        WakeWordDetector(
            models,
            threshold,
            trigger_level=1,
            refractory_s=0.5,
            warmup_s=0.0,
            engine=engine,  # type: ignore[arg-type]
            front_end=words.answer_front_end,
        )
    )


def _shared_front_end(wake: WakeWordConfig) -> FrontEnd | None:
    """One front end for the wake words and the stop words when both are of one engine:
    openWakeWord's mel spectrogram and embedding, or microWakeWord's features."""
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


def _load_stop_words(wake: WakeWordConfig, words: Words) -> None:
    """The stop-word detector, and its own-voice guard on the answers' audio."""
    engine = wake.stop_word_engine or wake.engine
    try:
        words.stop_detector = WakeWordDetector(
            list(wake.stop_words),
            wake.stop_word_threshold,
            # the models' recommended trigger levels go with their wake-word thresholds
            trigger_level=wake.trigger_level or 1,
            refractory_s=wake.refractory_s,
            warmup_s=wake.warmup_s,
            engine=engine,  # type: ignore[arg-type]
            front_end=words.front_end,
        )
        words.stop_own_voice = _guard(
            list(wake.stop_words),
            min(*words.detector.thresholds, wake.stop_word_threshold),
            engine,
            words,
        )
    except WakeWordError as err:
        raise ConfigError(f"wake_word.stop_words: {err}") from err
    both = sorted(set(words.stop_detector.names) & set(words.detector.names))
    if both:
        raise ConfigError(
            f"wake_word.stop_words: {both[0]!r} is also a wake word; a model is one or the other"
        )
