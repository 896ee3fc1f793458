"""The dynamic-binarization ops of DyBNN (``onebit.nn.dynamic``): a sign and a PReLU whose
per-channel parameters are a second input, computed from each sample by the program itself (the
converter lowers the hyper function to ``global_avgpool``, ``dense`` and ``relu``).

``dynamic_sign_pack``: inputs a float value ``x`` of shape ``(..., C)`` and a float vector
``threshold`` of ``C``; output the packed bits of ``x >= threshold`` per channel (``sign(x -
threshold)``, sign(0) = +1), as ``sign_pack`` lays them out, so any binary layer reads them.

``dynamic_prelu``: inputs ``x`` ``(..., C)`` and a float vector ``shifts`` of ``2C`` (``gamma``
then ``zeta``); tensor ``slope`` ``(C,)``; output ``prelu(x - gamma) + zeta`` in float32 (see
``reference_dynamic.dynamic_prelu`` for the order of the roundings).
"""

from __future__ import annotations

import numpy as np

from onebit.runtime.bit_format import words_for
from onebit.runtime.ops.base import Op, ProgramError
from onebit.runtime.reference_dynamic import dynamic_prelu, dynamic_sign_pack
from onebit.runtime.shapes import Value, abs_max, bits_value, float_value


class DynamicSignPack(Op):
    """Binarize against a threshold per channel that is an input, and pack along the channels."""

    type = "dynamic_sign_pack"
    arity = 2

    def infer(self, inputs: list[Value]) -> Value:
        x, threshold = inputs
        self.expect(x, "float")
        self.expect(threshold, "float", 1, name="threshold")
        channels = x.shape[-1]
        if threshold.shape[0] != channels:
            raise ProgramError(
                f"op {self.where}: {threshold.shape[0]} thresholds for {channels} channels"
            )
        self.work = x.elements
        return bits_value((*x.shape[:-1], words_for(channels)), channels, self.where)

    def __call__(self, x: np.ndarray, threshold: np.ndarray) -> np.ndarray:
        return dynamic_sign_pack(x, threshold)


class DynamicPrelu(Op):
    """``prelu(x - gamma) + zeta`` with ``[gamma, zeta]`` an input and one slope per channel."""

    type = "dynamic_prelu"
    arity = 2

    def __init__(self, spec, tensors) -> None:
        super().__init__(spec, tensors)
        self.slope = self.tensor("slope", np.float32, (None,))

    def infer(self, inputs: list[Value]) -> Value:
        x, shifts = inputs
        self.expect(x, "float")
        self.expect(shifts, "float", 1, name="shifts")
        channels = x.shape[-1]
        if len(self.slope) != channels:
            raise ProgramError(f"op {self.where}: {len(self.slope)} slopes for {channels} channels")
        if shifts.shape[0] != 2 * channels:
            raise ProgramError(
                f"op {self.where}: {shifts.shape[0]} shifts for {channels} channels (it takes "
                f"gamma and zeta: {2 * channels})"
            )
        self.work = x.elements
        shifted = x.bound + shifts.bound
        bound = shifted * max(1.0, abs_max(self.slope)) + shifts.bound
        return float_value(x.shape, bound, self.where)

    def __call__(self, x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        return dynamic_prelu(x, shifts, self.slope)
