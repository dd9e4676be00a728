"""The running satellite agent (``realtime-voice satellite``, docs/satellite.md). Setting it up
(``--setup``, ``--doctor``) is ``setup/``; the command line is ``commands/satellite.py``.

Modules, one job each:
- ``states``: its states and what it does in each (``RULES``, ``decide``), on one page.
- ``agent``: the conversation (``SatelliteAgent``, ``start()``/``stop()``); it is the link's
  ``LinkHandler`` and carries out what ``states`` decides. ``build``: the composition root
  (``build_agent(config, source, sink)``); ``words``: the wake-word and stop-word detectors and
  their own-voice guards.
- what it hears, on the capture worker's thread: ``capture`` (the worker), ``hearing`` (DSP, wake
  and stop words, the voice), ``voice`` (barge-in by voice), ``own_voice`` (the satellite's own
  voice in its answers), ``echo_mode`` (``audio.echo_cancellation``), ``captured_reference`` and
  ``played`` (what the speaker played, the echo canceller's reference), ``room`` (file mode's
  simulated room).
- what it plays: ``player`` (the jitter buffer, ``Player``), ``mixer`` (voice over media),
  ``sounds`` (the wake chime), ``spoken_code`` (the pairing code, spoken).
- ``audio_io``: ``AudioSource``/``AudioSink`` for sound devices (sounddevice) and WAV files;
  ``portaudio``: what PortAudio's failures mean, with the fix.
- ``config``: the YAML file (``load_config``; errors name file, line, key and expectation);
  ``credentials``, ``certificate``, ``identity``: the access key, the TLS certificate and the
  stable id in the state directory; ``service``: how it is installed (systemd).
- ``advertiser``: the zeroconf advertisement (``ZeroconfAdvertiser``); ``updater``: updating
  itself when HA asks; ``errors``: an error on every audio block logged once, then counted
  (``RepeatedErrors``).
"""
