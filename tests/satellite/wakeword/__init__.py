"""Tests of realtime_voice_satellite.wakeword: the detectors and their shared front end."""
