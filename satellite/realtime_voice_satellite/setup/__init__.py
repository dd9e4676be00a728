"""Setting the satellite up, not running it (``realtime-voice satellite --setup`` and
``--doctor``): ``guided`` (the guided first start, which writes satellite.yaml), ``doctor`` (the
checks of this machine and satellite.yaml, each problem with its fix) and ``devices`` (the sound
devices as those two see them). They use the agent's configuration and audio modules; the agent
imports nothing from here.
"""
