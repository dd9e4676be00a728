"""The ``realtime-voice`` subcommands the satellite brings, one module each (``cli.py`` finds
them): ``satellite`` (runs the agent; ``--setup`` and ``--doctor`` hand over to ``setup/``) and
``wakeword`` (a WAV file through the DSP and wake-word chain)."""
