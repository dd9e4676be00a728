"""Audio for the satellite: the microphone DSP chain and WAV files (numpy, soxr).

API::

    chain = DspChain(48000, highpass_hz=80.0, agc=AgcConfig(), noise_suppression=False)
    # noise_suppression=True needs pyspeex-noise (ValueError saying so when it is missing)
    frame = chain.process(chunk)     # int16 or float32 mono at 48 kHz, any length
    frame.wake_16k                   # int16 at 16 kHz for the wake word (may be empty: bursts)
    frame.stream_24k                 # PCM16 LE mono 24 kHz bytes for the Realtime link
    frame.level_dbfs, frame.speech   # RMS level after the high-pass; simple voice activity
    chain.flush()                    # at the end of a file: what the resamplers still hold
    chain.reset()                    # forget all state

    samples, rate = read_wav(path)   # int16 mono (channels averaged), any rate; WavError
    write_wav(path, samples, rate)   # 16-bit mono
    with WavWriter(path, rate) as w: w.write(samples_or_pcm16_bytes)  # valid after every write
"""

from .dsp import STREAM_RATE, WAKE_RATE, AgcConfig, DspChain, DspFrame
from .wav import WavError, WavWriter, read_wav, write_wav

__all__ = [
    "STREAM_RATE",
    "WAKE_RATE",
    "AgcConfig",
    "DspChain",
    "DspFrame",
    "WavError",
    "WavWriter",
    "read_wav",
    "write_wav",
]
