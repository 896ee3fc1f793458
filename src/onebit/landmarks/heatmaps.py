"""Heatmaps: one map per landmark, a Gaussian at the point, and back from maps to points.

A network that localizes landmarks outputs a map per landmark at ``1/stride`` of the input's
resolution and is trained to regress Gaussians centred on the points (Tompson et al., "Joint
Training of a Convolutional Network and a Graphical Model for Human Pose Estimation", NIPS
2014; the stacked hourglass of Newell et al., ECCV 2016, and the binary hourglass of Bulat &
Tzimiropoulos, ICCV 2017, train this way). Coordinates follow
:mod:`onebit.data.landmarks`: pixel centres are integers, so image point ``p`` sits at
``q = (p + 0.5) / stride - 0.5`` on the map and back at ``p = (q + 0.5) * stride - 0.5``.
"""

from __future__ import annotations

import numpy as np

from onebit._registry import OnebitError

REFINEMENTS = ("quarter", "log-parabola", "none")


def _check_stride_sigma(stride: int, sigma: float | None = None) -> None:
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise OnebitError(f"stride must be a positive int, got {stride!r}")
    if sigma is not None and not (isinstance(sigma, int | float) and sigma > 0):
        raise OnebitError(f"sigma must be positive, got {sigma!r}")


def render_heatmaps(
    points: np.ndarray, size: tuple[int, int], stride: int = 1, sigma: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Target maps for points (N, K, 2): ``exp(-|x - q|^2 / (2 sigma^2))`` on a (height, width)
    grid, peak 1 at the point's sub-pixel position ``q`` on the map (not rounded to a pixel, as
    Newell et al.'s code does).

    Args:
        points: ``(x, y)`` in image pixels; ``NaN`` for a point not given.
        size: the maps' (height, width).
        stride: image pixels per map pixel.
        sigma: the Gaussian's standard deviation, in map pixels.

    Returns:
        The maps, float32 (N, K, height, width), zero for a point not given; and the mask (N, K)
        of the points given, for the loss to leave the others out.
    """
    _check_stride_sigma(stride, sigma)
    points = np.asarray(points, np.float64)
    if points.ndim != 3 or points.shape[2] != 2:
        raise OnebitError(f"points must be (N, K, 2), got shape {points.shape}")
    height, width = size
    if height < 1 or width < 1:
        raise OnebitError(f"heatmap size must be positive, got {size}")
    given = ~np.isnan(points).any(axis=2)
    q = (np.where(given[..., None], points, 0.0) + 0.5) / stride - 0.5
    xs = np.arange(width, dtype=np.float64)
    ys = np.arange(height, dtype=np.float64)
    gx = np.exp(-((xs - q[..., 0, None]) ** 2) / (2 * sigma**2))  # (N, K, W)
    gy = np.exp(-((ys - q[..., 1, None]) ** 2) / (2 * sigma**2))  # (N, K, H)
    maps = gy[..., :, None] * gx[..., None, :] * given[..., None, None]
    return maps.astype(np.float32), given


def decode_heatmaps(heatmaps: np.ndarray, stride: int = 1, refine: str = "quarter") -> np.ndarray:
    """The points (N, K, 2) that maps (N, K, H, W) show: each map's maximum (the first in
    row-major order on a tie), refined to sub-pixel precision, in image pixels.

    Refinements, per axis, from the maximum's two neighbours (none at a border):

    - ``quarter``: a quarter pixel towards the higher neighbour (Newell et al., ECCV 2016, the
      hourglass's evaluation code, which Bulat & Tzimiropoulos follow);
    - ``log-parabola``: the vertex of the parabola through the logarithms of the three values,
      exact for a Gaussian map (the one-dimensional form of Zhang et al., "Distribution-Aware
      Coordinate Representation for Human Pose Estimation", CVPR 2020); values are floored at
      1e-10 first, and the shift is kept within half a pixel;
    - ``none``: the maximum's pixel.
    """
    _check_stride_sigma(stride)
    if refine not in REFINEMENTS:
        raise OnebitError(f"refine must be one of {REFINEMENTS}, got {refine!r}")
    maps = np.asarray(heatmaps, np.float64)
    if maps.ndim != 4 or maps.shape[2] < 1 or maps.shape[3] < 1:
        raise OnebitError(f"heatmaps must be (N, K, H, W), got shape {maps.shape}")
    if not np.isfinite(maps).all():
        raise OnebitError("heatmaps must be finite")
    n, k, height, width = maps.shape
    flat = maps.reshape(n, k, -1).argmax(axis=2)
    y, x = np.divmod(flat, width)
    points = np.stack([x, y], axis=-1).astype(np.float64)
    if refine != "none":
        i, j = np.arange(n)[:, None], np.arange(k)[None, :]
        for axis, (pos, limit) in enumerate(((x, width), (y, height))):
            inside = (pos > 0) & (pos < limit - 1)
            lo, hi = np.clip(pos - 1, 0, limit - 1), np.clip(pos + 1, 0, limit - 1)
            if axis == 0:
                left, centre, right = maps[i, j, y, lo], maps[i, j, y, x], maps[i, j, y, hi]
            else:
                left, centre, right = maps[i, j, lo, x], maps[i, j, y, x], maps[i, j, hi, x]
            if refine == "quarter":
                shift = 0.25 * np.sign(right - left)
            else:
                a, b, c = (np.log(np.maximum(v, 1e-10)) for v in (left, centre, right))
                curvature = a - 2 * b + c
                with np.errstate(divide="ignore", invalid="ignore"):
                    shift = np.where(curvature < 0, 0.5 * (a - c) / curvature, 0.0)
                shift = np.clip(shift, -0.5, 0.5)
            points[..., axis] += np.where(inside, shift, 0.0)
    return (points + 0.5) * stride - 0.5
