"""Tests of realtime_voice_satellite.setup: the guided first start (--setup) and the doctor on
stand-in sound devices."""
