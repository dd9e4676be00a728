"""Music under the voice (#15 item 4, satellite side): the media layer plays at full level alone,
ducks while the voice plays or the satellite listens, and comes back after, without a click."""

from __future__ import annotations

import numpy as np

from realtime_voice_satellite.agent.mixer import DUCK_GAIN, VOICE_DUCK_GAIN, Mixer
from realtime_voice_satellite.agent.player import Player
from tests.helpers import audio

RATE = 24_000
BLOCK = 480  # 20 ms


def music(seconds: float) -> bytes:
    return audio.tone_pcm(seconds, RATE, 220, 10_000 / 32767)


def level(block: np.ndarray | None) -> float:
    assert block is not None
    return float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))


def blocks(mixer: Mixer, seconds: float) -> list[np.ndarray]:
    out = []
    for _ in range(int(seconds * RATE / BLOCK)):
        block = mixer.read(BLOCK)
        assert block is not None
        out.append(block)
    return out


async def test_music_ducks_under_the_voice_and_while_listening_then_comes_back() -> None:
    voice, media = Player(RATE, prebuffer_ms=0), Player(RATE, prebuffer_ms=0)
    mixer = Mixer(voice, media)
    assert mixer.read(BLOCK) is None  # nothing plays: the output plays silence
    media.start("song", "media")
    media.feed(music(6.0))
    full = level(blocks(mixer, 0.5)[-1])
    assert full > 6000

    voice.start("answer", "response")
    voice.feed(bytes(RATE * 2))  # a second of (silent) voice: only the music's level is measured
    voice.end("answer")
    ducked = blocks(mixer, 0.9)
    assert abs(level(ducked[-1]) / full - DUCK_GAIN) < 0.02
    # The change ramps: no block jumps from full to ducked.
    steps = [level(b) for b in ducked[:10]]
    assert steps[0] > steps[5] > steps[9]

    blocks(mixer, 0.3)  # the voice has played out: the music comes back
    assert abs(level(blocks(mixer, 0.3)[-1]) / full - 1.0) < 0.02

    mixer.listening = True  # the wake word: ducked while the satellite listens
    assert abs(level(blocks(mixer, 0.3)[-1]) / full - DUCK_GAIN) < 0.02
    mixer.listening = False
    assert abs(level(blocks(mixer, 0.3)[-1]) / full - 1.0) < 0.02


async def test_voice_alone_is_untouched() -> None:
    voice, media = Player(RATE, prebuffer_ms=0), Player(RATE, prebuffer_ms=0)
    mixer = Mixer(voice, media)
    voice.start("answer", "response")
    audio = music(0.2)
    voice.feed(audio)
    voice.end("answer")
    out = []
    while (block := mixer.read(BLOCK)) is not None:
        out.append(block)
    assert np.concatenate(out)[: len(audio) // 2].tobytes() == audio


async def test_the_voice_ducks_for_the_user_at_once_and_comes_back_in_a_ramp() -> None:
    """Full duplex (states.py's DUCK): the voice layer itself goes VOICE_DUCK_GAIN down within a
    block, and back to full level over RAMP_MS, without a step (no click)."""
    voice, media = Player(RATE, prebuffer_ms=0), Player(RATE, prebuffer_ms=0)
    mixer = Mixer(voice, media)
    voice.start("answer", "response")
    voice.feed(music(2.0))
    voice.end("answer")
    full = level(blocks(mixer, 0.2)[-1])
    mixer.voice_ducked = True
    ducked = blocks(mixer, 0.2)
    assert level(ducked[0]) < full  # the first block already goes down
    assert abs(level(ducked[1]) / full - VOICE_DUCK_GAIN) < 0.005
    mixer.voice_ducked = False
    back = [level(b) for b in blocks(mixer, 0.3)]
    assert back[0] < back[3] < back[6] < full * 0.98
    assert abs(back[-1] / full - 1.0) < 0.02
