"""Tests of realtime_voice_satellite.agent: the running agent on WAV files and stand-in devices,
its states and its updater."""
