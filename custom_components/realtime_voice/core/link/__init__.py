"""The link between satellite and Home Assistant: protocol, server (satellite side), client (HA side)."""
