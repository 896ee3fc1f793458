"""Audio for keyword spotting, with no torch import: one-second 16 kHz clips from WAV files
(:mod:`onebit.audio.clips`) and their log-mel spectrograms (:mod:`onebit.audio.features`).

The frontend is NumPy alone (not librosa, which would bring numba, llvmlite, soundfile, soxr,
pooch and requests for one STFT and one filterbank), so it runs wherever the runtime does and is
short enough to port to C; reading and resampling WAV files uses scipy.
"""

from onebit.audio.clips import fit_clip, load_clip, read_wav
from onebit.audio.features import (
    CLIP_SAMPLES,
    FRONTEND,
    SAMPLE_RATE,
    LogMel,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
)

__all__ = [
    "CLIP_SAMPLES",
    "FRONTEND",
    "SAMPLE_RATE",
    "LogMel",
    "fit_clip",
    "hz_to_mel",
    "load_clip",
    "mel_filterbank",
    "mel_to_hz",
    "read_wav",
]
