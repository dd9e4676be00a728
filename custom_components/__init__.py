"""Custom integrations of this repository (Home Assistant imports this package to find them)."""
