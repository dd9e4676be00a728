"""Tests of the repository's tools (dev/realtime_voice_dev): the benchmarks and the probe."""
