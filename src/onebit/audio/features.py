"""Log-mel spectrograms of one-second clips, in NumPy alone (no torch, no audio library).

The frontend (:class:`LogMel`, defaults in :data:`FRONTEND`) follows the keyword-spotting setups
of TensorFlow Lite Micro's ``micro_speech`` example and Zhang et al., "Hello Edge: Keyword
Spotting on Microcontrollers", arXiv:1711.07128 (2017): 16 kHz audio, a 30 ms window every 20 ms
(49 frames per second), 40 mel bands. The 20 ms hop (not 10 ms) halves the frames, and so the
binary network's work and activation memory, at the resolution both references use.

Per clip:

1. Frames: ``1 + (T - window) // hop`` frames of ``window`` samples, the first starting at
   sample 0 (no padding: a 1 s clip gives 49 frames).
2. Each frame times a periodic Hann window ``w[n] = 0.5 - 0.5 cos(2 pi n / window)`` (Harris,
   "On the use of windows for harmonic analysis with the DFT", Proc. IEEE 66(1), 1978), then
   ``numpy.fft.rfft`` at ``n_fft`` points; the power spectrum is ``|X[k]|^2 / (sum w)^2``, so a
   sine of amplitude ``A`` centred on a bin gives ``A^2 / 4`` there.
3. Mel bands: triangles of unit height on the HTK mel scale ``mel(f) = 2595 log10(1 + f / 700)``
   (Young et al., The HTK Book, sec. 5.4): ``n_mels + 2`` points equally spaced in mel from
   ``f_min`` to ``f_max``; band ``m`` rises linearly in Hz from point ``m`` to its centre, point
   ``m + 1``, where it is 1, and falls to 0 at point ``m + 2`` (:func:`mel_filterbank`).
4. ``10 log10(energy + 1e-10)`` dB per band and frame, clipped to the fixed range
   ``[db_floor, db_ceiling]`` and mapped linearly to [0, 1] (``DataSplits`` takes images in
   [0, 1]). The range is fixed, not per clip, so loudness stays information and one clip's
   features never depend on another's: 0 dB is above a full-scale sine (about -5 dB in its
   band), -100 dB near the quantization noise of 16-bit audio.

The result of a clip is ``(n_mels, frames)``: mel band as rows (low to high), time as columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from onebit._registry import OnebitError

SAMPLE_RATE = 16_000
"""Samples per second of every clip the frontend reads."""
CLIP_SAMPLES = SAMPLE_RATE
"""A keyword clip is one second long."""


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """The HTK mel scale, ``2595 log10(1 + f / 700)``."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """The inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int, n_fft: int, sample_rate: int, f_min: float, f_max: float
) -> np.ndarray:
    """Triangular mel filters of unit height, as a ``(n_mels, n_fft // 2 + 1)`` float32 matrix.

    Row ``m`` weighs the rfft bins (bin ``k`` at ``k * sample_rate / n_fft`` Hz): 0 at and below
    the mel point ``m``, rising linearly in Hz to 1 at point ``m + 1``, falling to 0 at point
    ``m + 2`` (step 3 of the module's rule).

    Raises:
        OnebitError: if the band edges are not ``0 <= f_min < f_max <= sample_rate / 2``, or the
            bins are too coarse for every band to weigh at least one bin.
    """
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise OnebitError(
            f"mel filterbank: need 0 <= f_min < f_max <= {sample_rate / 2:g} Hz, "
            f"got {f_min:g} and {f_max:g}"
        )
    if n_mels < 1 or n_fft < 2:
        raise OnebitError(f"mel filterbank: n_mels {n_mels} and n_fft {n_fft} must be positive")
    points = mel_to_hz(np.linspace(hz_to_mel(f_min), hz_to_mel(f_max), n_mels + 2))
    points[0], points[-1] = f_min, f_max  # exact edges: no rounding leaks past the band
    bins = np.arange(n_fft // 2 + 1) * (sample_rate / n_fft)
    lower, centre, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (bins - lower) / (centre - lower)
    falling = (upper - bins) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    empty = np.flatnonzero(weights.max(axis=1) == 0)
    if len(empty):
        raise OnebitError(
            f"mel filterbank: bands {empty.tolist()} cover no FFT bin ({n_mels} bands from "
            f"{f_min:g} to {f_max:g} Hz on {sample_rate / n_fft:g} Hz bins); use fewer bands "
            "or a longer FFT"
        )
    return weights.astype(np.float32)


def hann(length: int) -> np.ndarray:
    """The periodic Hann window of ``length`` samples (step 2), float64."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


@dataclass(frozen=True)
class LogMel:
    """The log-mel frontend; calling it turns clips into features (see the module's rule).

    Attributes:
        sample_rate: samples per second the clips are in.
        window: samples per frame (480: 30 ms).
        hop: samples between frame starts (320: 20 ms).
        n_fft: rfft length, at least ``window``.
        n_mels: mel bands.
        f_min: the lowest band's lower edge in Hz (125, as micro_speech).
        f_max: the highest band's upper edge in Hz (7500, as micro_speech).
        db_floor: the dB mapped to 0; lower values are clipped to it.
        db_ceiling: the dB mapped to 1; higher values are clipped to it.
    """

    sample_rate: int = SAMPLE_RATE
    window: int = 480
    hop: int = 320
    n_fft: int = 512
    n_mels: int = 40
    f_min: float = 125.0
    f_max: float = 7500.0
    db_floor: float = -100.0
    db_ceiling: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.hop <= self.window <= self.n_fft:
            raise OnebitError(
                f"log-mel: need 0 < hop <= window <= n_fft, got hop {self.hop}, window "
                f"{self.window}, n_fft {self.n_fft}"
            )
        if not self.db_floor < self.db_ceiling:
            raise OnebitError(
                f"log-mel: db_floor {self.db_floor} must be below db_ceiling {self.db_ceiling}"
            )

    @cached_property
    def filterbank(self) -> np.ndarray:
        """The ``(n_mels, n_fft // 2 + 1)`` mel weights (:func:`mel_filterbank`)."""
        return mel_filterbank(self.n_mels, self.n_fft, self.sample_rate, self.f_min, self.f_max)

    def frames(self, samples: int) -> int:
        """Frames of a clip of ``samples`` samples (step 1)."""
        if samples < self.window:
            raise OnebitError(f"log-mel: a clip of {samples} samples is shorter than one window")
        return 1 + (samples - self.window) // self.hop

    def output_shape(self, samples: int = CLIP_SAMPLES) -> tuple[int, int]:
        """``(n_mels, frames)`` of a clip of ``samples`` samples."""
        return self.n_mels, self.frames(samples)

    def power_db(self, waves: np.ndarray, chunk: int = 256) -> np.ndarray:
        """Log-mel energies in dB, unclipped: ``(N, n_mels, frames)`` float32 for ``(N, T)``
        waves (float in [-1, 1], or int16 read as ``x / 32768``); ``(n_mels, frames)`` for one
        ``(T,)`` clip. Works ``chunk`` clips at a time to bound memory."""
        single = np.ndim(waves) == 1
        batch = np.atleast_2d(np.asarray(waves))
        if batch.ndim != 2:
            raise OnebitError(f"log-mel: waves must be (T,) or (N, T), got shape {batch.shape}")
        if batch.dtype == np.int16:
            batch = batch.astype(np.float32) / 32768.0
        elif not np.issubdtype(batch.dtype, np.floating):
            raise OnebitError(f"log-mel: waves must be float or int16, got {batch.dtype}")
        n_frames = self.frames(batch.shape[1])
        window = hann(self.window).astype(np.float32)
        scale = float(window.sum()) ** 2
        weights = self.filterbank.T
        out = np.empty((len(batch), self.n_mels, n_frames), np.float32)
        for start in range(0, len(batch), chunk):
            part = batch[start : start + chunk].astype(np.float32, copy=False)
            frames = np.lib.stride_tricks.sliding_window_view(part, self.window, axis=1)
            frames = frames[:, : n_frames * self.hop : self.hop] * window
            spectrum = np.fft.rfft(frames, n=self.n_fft, axis=-1)
            power = (spectrum.real**2 + spectrum.imag**2) / scale
            energy = power.astype(np.float32) @ weights
            out[start : start + chunk] = (10.0 * np.log10(energy + 1e-10)).transpose(0, 2, 1)
        return out[0] if single else out

    def __call__(self, waves: np.ndarray) -> np.ndarray:
        """Features in [0, 1] (step 4): ``(N, 1, n_mels, frames)`` float32 for ``(N, T)`` waves,
        the image layout of :class:`onebit.data.DataSplits`; ``(n_mels, frames)`` for one
        ``(T,)`` clip."""
        db = self.power_db(waves)
        unit = (np.clip(db, self.db_floor, self.db_ceiling) - self.db_floor) / (
            self.db_ceiling - self.db_floor
        )
        unit = unit.astype(np.float32)
        return unit if np.ndim(waves) == 1 else unit[:, None]


FRONTEND = LogMel()
"""The frontend of the keyword sets and ``kws-bnn``: 40 bands x 49 frames per 1 s clip."""
