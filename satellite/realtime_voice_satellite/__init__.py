"""The Realtime Voice satellite agent for a Raspberry Pi (docs/satellite.md): audio I/O, DSP, wake
words, the agent and its CLI (``realtime-voice``). No Home Assistant here.

Subpackages: ``audio`` (DSP, WAV), ``wakeword`` (openWakeWord and microWakeWord behind one
detector), ``agent`` (the running satellite), ``setup`` (``--setup``, ``--doctor``), ``commands``
(the subcommands ``cli`` runs) and ``link``, the link protocol that Home Assistant speaks too: a
symlink to the integration's ``core/link`` (pip builds this directory in place and the wheel gets
the real files; docs/architecture.md "Packaging").
"""

__version__ = "0.1.0"
