"""The satellite's side of a conversation, HA-free: the conversation engine (``engine.py``), its
states (``states.py``), the brain it talks to (``brain.py``), the stream sender for everything the
satellite plays (``streams.py``) and what it needs of the satellite link (``ports.py``).

The engine owns wake, listen, play, barge-in, stop word, the watchdog and the announcements' turn; a
brain (the Realtime session today, see ``realtime_brain.py`` of the integration) hears the user and
answers. Nothing here imports homeassistant: the integration wires it to HA
(``session_manager.py``), and tests drive it with a fake brain and a fake link.
"""

from .brain import Brain, BrainAbilities, BrainEvent, SpeakError, SpeechCutError, Turn, TurnRefused
from .engine import ConversationEngine
from .ports import SatelliteLink, SatelliteOfflineError
from .states import Conversation, ConversationState, Trigger, next_state
from .streams import BYTES_PER_MS, CHUNK_BYTES, Playback, PlaybackTracker, Stream, StreamSender

__all__ = [
    "BYTES_PER_MS",
    "CHUNK_BYTES",
    "Brain",
    "BrainAbilities",
    "BrainEvent",
    "Conversation",
    "ConversationEngine",
    "ConversationState",
    "Playback",
    "PlaybackTracker",
    "SatelliteLink",
    "SatelliteOfflineError",
    "SpeakError",
    "SpeechCutError",
    "Stream",
    "StreamSender",
    "Trigger",
    "Turn",
    "TurnRefused",
    "next_state",
]
