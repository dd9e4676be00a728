"""HA-free core of the integration: the Realtime client (``realtime``), the link (``link``) and the
conversation engine (``conversation``).

Nothing in here imports homeassistant, and imports inside are relative. ``link`` is shared with the
satellite package (satellite/, where ``realtime_voice_satellite/link`` is a symlink to it); the
repository's own tools and tests also import this package as ``realtime_voice_core`` (the root
pyproject.toml maps it), where no Home Assistant is installed.
"""
