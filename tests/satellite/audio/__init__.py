"""Tests of realtime_voice_satellite.audio: the microphone's DSP chain and WAV input."""
