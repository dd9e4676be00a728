"""The satellite agent for the Raspberry Pi (``realtime-voice satellite``, docs/satellite.md).

Modules, one job each:
- ``config``: the YAML file (``load_config``; errors name file, line, key and expectation).
- ``audio_io``: ``AudioSource``/``AudioSink`` for sound devices (sounddevice) and WAV files.
- ``playback``: the jitter buffer between the link and the output callback (``Player``).
- ``agent``: the conversation (``SatelliteAgent(config, source, sink)``, ``start()``/``stop()``);
  it is the link's ``LinkHandler``; ``errors``: an error on every audio block logged once, then
  counted (``RepeatedErrors``).
- ``announce``: the zeroconf announcement; ``identity``: the stable satellite id.
- ``sounds``: the wake chime; ``cli``: the subcommand (its benchmark is the repository's,
  ``dev/realtime_voice_dev/bench``).
- ``setup``: the guided first start (``--setup``); ``doctor``: the checks with their fixes
  (``--doctor``); ``devices``: the sound devices as those two see them; ``portaudio``: what
  PortAudio's failures mean, with the fix (also for ``audio_io``).
"""
