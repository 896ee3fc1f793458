"""Data augmentation applied to a training batch on the fly: image shifts, and for keyword sets
time shifts and noise on the waveforms before their features are computed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from onebit._registry import OnebitError


def random_shift(images: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each image by its own random offset of up to ``max_shift`` pixels per axis.

    Pixels shifted in are zeros (the background of digit images). Offsets are drawn from torch's
    global generator, so a seeded run (and a resumed one) draws the same shifts.

    Args:
        images: a batch of shape (N, C, H, W).
        max_shift: the largest offset in pixels; 0 returns ``images`` unchanged.
    """
    if max_shift == 0:
        return images
    if images.ndim != 4:
        raise OnebitError(
            f"random shift needs (N, C, H, W) images, got shape {tuple(images.shape)}"
        )
    n, _, height, width = images.shape
    padded = F.pad(images, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), device=images.device)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), device=images.device)
    rows = (torch.arange(height, device=images.device) + dy[:, None])[:, :, None]
    cols = (torch.arange(width, device=images.device) + dx[:, None])[:, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()


AUDIO_SHIFT_SECONDS = 0.1
"""The largest time shift of a training clip, as Speech Commands' training script's
``time_shift_ms`` (Warden, arXiv:1804.03209, 2018)."""
NOISE_PROBABILITY = 0.8
"""The share of training clips that get noise (the rest stay clean, as the test clips are)."""
SNR_DB = (5.0, 40.0)
"""The range of the drawn signal-to-noise ratios, in dB."""


def shift_waves(waves: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Delay or advance each clip of ``waves`` (N, T) by its own whole number of samples, drawn
    uniformly from ``[-max_shift, max_shift]``; samples shifted in are zeros (silence)."""
    if max_shift == 0:
        return waves
    n, length = waves.shape
    shift = torch.randint(-max_shift, max_shift + 1, (n,), device=waves.device)
    padded = F.pad(waves, (max_shift, max_shift))
    index = torch.arange(length, device=waves.device) + (max_shift - shift)[:, None]
    return padded.gather(1, index)


def colored_noise(n: int, length: int, device: torch.device | None = None) -> torch.Tensor:
    """``n`` noises of ``length`` samples and unit power, each white or pink (even odds).

    White noise is Gaussian; pink noise is Gaussian noise shaped in the frequency domain to a
    power spectral density falling as 1/f (amplitude ``1 / sqrt(f)``, the DC bin zeroed), the
    spectral method of Kasdin, "Discrete simulation of colored noise and stochastic processes
    and 1/f^alpha power law noise generation", Proc. IEEE 83(5), 1995.
    """
    white = torch.randn(n, length, device=device)
    spectrum = torch.fft.rfft(torch.randn(n, length, device=device), dim=1)
    bins = torch.arange(spectrum.shape[1], device=device, dtype=white.dtype)
    pink = torch.fft.irfft(spectrum / bins.clamp(min=1).sqrt() * (bins > 0), n=length, dim=1)
    noise = torch.where(torch.rand(n, 1, device=device) < 0.5, white, pink)
    return noise / noise.pow(2).mean(dim=1, keepdim=True).sqrt().clamp(min=1e-12)


def add_noise(
    waves: torch.Tensor,
    snr_db: tuple[float, float] = SNR_DB,
    probability: float = NOISE_PROBABILITY,
) -> torch.Tensor:
    """``waves`` (N, T, float in [-1, 1]) with white or pink noise (:func:`colored_noise`) added
    to each clip with ``probability``, at a signal-to-noise ratio drawn uniformly from
    ``snr_db``; the signal's power is the mean square over the whole clip. The sum is clipped to
    [-1, 1], as a recording saturates."""
    n, length = waves.shape
    noise = colored_noise(n, length, waves.device)
    low, high = snr_db
    snr = low + (high - low) * torch.rand(n, 1, device=waves.device)
    power = waves.pow(2).mean(dim=1, keepdim=True)
    scale = (power / 10.0 ** (snr / 10.0)).sqrt()
    noisy = torch.rand(n, 1, device=waves.device) < probability
    return (waves + torch.where(noisy, scale, 0.0) * noise).clamp(-1.0, 1.0)


class AudioAugmentation:
    """The training batches of a keyword set, made from its waveforms: each clip shifted in
    time by up to :data:`AUDIO_SHIFT_SECONDS` (:func:`shift_waves`), given noise
    (:func:`add_noise`), then turned into log-mel features by the set's frontend.

    Every draw comes from torch's global generator, so a seeded run draws the same shifts and
    noises, and a resumed one (which restores the generator) goes on as if it never stopped.

    Args:
        waves: the training part's int16 ``(N, T)`` clips.
        frontend: waves ``(N, T)`` to features ``(N, 1, n_mels, frames)`` (NumPy).
        sample_rate: the clips' samples per second.
    """

    def __init__(
        self, waves: np.ndarray, frontend: Callable[[np.ndarray], np.ndarray], sample_rate: int
    ) -> None:
        self.waves = torch.from_numpy(np.ascontiguousarray(waves))
        self.frontend = frontend
        self.max_shift = round(AUDIO_SHIFT_SECONDS * sample_rate)

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """The float32 features of the clips at the indices ``batch``, on the CPU."""
        waves = self.waves[batch.cpu()].float() / 32768.0
        waves = add_noise(shift_waves(waves, self.max_shift))
        return torch.from_numpy(self.frontend(waves.numpy()))
