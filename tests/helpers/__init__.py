"""Helpers every test tier shares: audio to feed and measure (``audio``), free ports (``network``),
polling for a condition that no event announces (``waiting``). HA-free, so that the satellite's, the
integration's and the end-to-end tests all use the same ones."""
