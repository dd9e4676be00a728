"""Audio DSP for the satellite: filters, gain, resampling, metering (numpy, soxr)."""
