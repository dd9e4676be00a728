"""Tests of the HA-free Realtime core (custom_components/realtime_voice/core/realtime): the client and
its compatibility layer against the stand-in server."""
