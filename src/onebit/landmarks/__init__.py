"""Landmark localization: heatmap targets and their decoding, and the field's error metrics.

NumPy only, so the runtime decodes an engine's heatmaps without torch.
"""

from onebit.landmarks.heatmaps import decode_heatmaps, render_heatmaps
from onebit.landmarks.metrics import (
    box_diagonal,
    interocular,
    normalized_mean_error,
    pck,
    point_errors,
)

__all__ = [
    "box_diagonal",
    "decode_heatmaps",
    "interocular",
    "normalized_mean_error",
    "pck",
    "point_errors",
    "render_heatmaps",
]
