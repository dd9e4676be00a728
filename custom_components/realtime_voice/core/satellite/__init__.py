"""The satellite agent for the Raspberry Pi."""
