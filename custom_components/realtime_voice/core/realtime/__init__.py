"""Realtime core: WebSocket client and model compatibility layer (no homeassistant imports)."""
