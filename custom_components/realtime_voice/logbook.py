"""Logbook: name the satellite as the cause of what its tool calls changed."""

from .tools.logbook import async_describe_events

__all__ = ["async_describe_events"]
