"""Tests of the link (realtime_voice_satellite.link, the integration's core/link): server and
client on loopback, pairing, and the link against someone on the LAN."""
