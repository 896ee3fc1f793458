"""One-second 16 kHz clips from WAV files: read, resample, centre on the speech, store as int16.

:func:`fit_clip` is the one rule every keyword set applies to a recording:

1. Resample to 16 kHz with ``scipy.signal.resample_poly`` (a polyphase filter with a Kaiser
   window; the up/down factors are the rates divided by their gcd).
2. The speech: the samples whose magnitude reaches :data:`SPEECH_THRESHOLD` of the clip's peak;
   its centre is halfway between the first and the last of them (the clip's middle when the clip
   is silent).
3. The one-second window centred there, zeros outside the recording: a short recording is padded
   on both sides, a long one (Speech Commands clips are 1 s or less) keeps the second around its
   speech.
4. int16 (``round(x * 32767)``, clipped), the format of the caches and of most recordings.

scipy is imported when a clip is made, so the frontend (:mod:`onebit.audio.features`) needs
NumPy alone.
"""

from __future__ import annotations

import io
import math
import os
import struct
import warnings
from pathlib import Path

import numpy as np

from onebit._registry import OnebitError
from onebit.audio.features import CLIP_SAMPLES, SAMPLE_RATE

SPEECH_THRESHOLD = 0.05
"""The share of a clip's peak magnitude that counts as speech when centring it."""
MIN_SAMPLE_RATE = 8_000
"""The lowest sample rate a recording may have (telephone speech)."""


def resample(wave: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """``wave`` (float) at ``rate`` Hz resampled to ``target`` Hz (step 1)."""
    if rate == target:
        return wave
    from scipy.signal import resample_poly

    common = math.gcd(rate, target)
    return resample_poly(wave, target // common, rate // common)


def centre_second(wave: np.ndarray, samples: int = CLIP_SAMPLES) -> np.ndarray:
    """The ``samples``-long window of ``wave`` centred on its speech (steps 2-3)."""
    magnitude = np.abs(wave)
    peak = float(magnitude.max()) if len(wave) else 0.0
    loud = np.flatnonzero(magnitude >= SPEECH_THRESHOLD * peak) if peak > 0 else np.arange(0)
    centre = (loud[0] + loud[-1]) // 2 if len(loud) else len(wave) // 2
    start = int(centre) - samples // 2
    out = np.zeros(samples, dtype=np.float64)
    lo, hi = max(start, 0), min(start + samples, len(wave))
    if hi > lo:
        out[lo - start : hi - start] = wave[lo:hi]
    return out


def to_int16(wave: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as int16 (step 4)."""
    return np.clip(np.round(np.asarray(wave) * 32767.0), -32768, 32767).astype(np.int16)


def fit_clip(wave: np.ndarray, rate: int, samples: int = CLIP_SAMPLES) -> np.ndarray:
    """A mono recording (float in [-1, 1]) at ``rate`` Hz as the int16 one-second 16 kHz clip
    of the module's rule."""
    return to_int16(centre_second(resample(np.asarray(wave, np.float64), rate), samples))


def read_wav(source: str | os.PathLike[str] | bytes) -> tuple[np.ndarray, int]:
    """A mono WAV file (a path, or its bytes) as float64 samples in [-1, 1] and its rate.

    8-bit (unsigned), 16- and 32-bit integer and 32- and 64-bit float PCM are read, as
    ``scipy.io.wavfile`` reads them.

    Raises:
        OnebitError: naming the file, if it is not a readable WAV file, is not mono, has no
            samples, or has a sample rate below :data:`MIN_SAMPLE_RATE`.
    """
    from scipy.io import wavfile

    name = "WAV data" if isinstance(source, bytes) else str(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", wavfile.WavFileWarning)
            rate, data = wavfile.read(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (ValueError, EOFError, struct.error, wavfile.WavFileWarning, OSError) as err:
        raise OnebitError(f"{name}: not a readable WAV file ({err})") from None
    if data.ndim != 1:
        raise OnebitError(
            f"{name}: has {data.shape[1]} channels; keyword clips are mono (mix it down to one "
            "channel first)"
        )
    if len(data) == 0:
        raise OnebitError(f"{name}: has no samples")
    if rate < MIN_SAMPLE_RATE:
        raise OnebitError(f"{name}: sample rate {rate} Hz is below {MIN_SAMPLE_RATE} Hz")
    if data.dtype == np.uint8:
        wave = (data.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(data.dtype, np.integer):
        wave = data.astype(np.float64) / float(-np.iinfo(data.dtype).min)
    else:
        wave = data.astype(np.float64)
        if not np.isfinite(wave).all():
            raise OnebitError(f"{name}: has samples that are NaN or infinite")
    return wave, int(rate)


def load_clip(path: str | os.PathLike[str]) -> np.ndarray:
    """The WAV file at ``path`` as an int16 one-second 16 kHz clip (:func:`fit_clip`)."""
    wave, rate = read_wav(Path(path))
    return fit_clip(wave, rate)
