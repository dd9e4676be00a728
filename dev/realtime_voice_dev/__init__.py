"""The repository's own tools, in neither shipped package: the benchmarks (``realtime-voice
bench``), the probe (``realtime-voice probe``, the host's connection test) and the speech corpus of
the tests. Installed only into the repository's .venv (the root pyproject.toml).
"""
