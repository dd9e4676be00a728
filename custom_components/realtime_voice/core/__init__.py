"""HA-free core of Realtime Voice: realtime protocol, audio, wake word, link and the satellite agent.

Installed on a Pi as ``realtime_voice_core`` (``pip install .[satellite]``) and used inside Home
Assistant as ``custom_components.realtime_voice.core``. Nothing in here imports homeassistant, and all
imports inside this package are relative so that both names work.
"""

__version__ = "0.1.0"
