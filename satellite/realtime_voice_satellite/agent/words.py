"""The satellite's detectors, made by build.py: the wake words on the microphone, the stop words
(optional) on the same signal, and the own-voice guards that hear the answers themselves."""

from __future__ import annotations

from dataclasses import dataclass

from ..wakeword import WakeWordDetector
from ..wakeword.detector import FrontEnd
from .own_voice import OwnVoice


@dataclass(slots=True)
class Words:
    """The detectors: wake words on the microphone, stop words (optional) on the same signal, and
    the own-voice guards that hear the answers themselves."""

    detector: WakeWordDetector
    stop_detector: WakeWordDetector | None = None
    own_voice: OwnVoice | None = None
    stop_own_voice: OwnVoice | None = None
    front_end: FrontEnd | None = None  # the wake and stop words' shared one
    answer_front_end: FrontEnd | None = None  # the guards' shared one

    @property
    def guards(self) -> list[OwnVoice]:
        return [g for g in (self.own_voice, self.stop_own_voice) if g is not None]

    def close(self) -> None:
        self.detector.close()
        for extra in (
            self.own_voice,
            self.stop_detector,
            self.stop_own_voice,
            self.front_end,
            self.answer_front_end,
        ):
            if extra is not None:
                extra.close()
