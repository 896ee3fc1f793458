"""A per-layer account of a model, as Larq's ``lq.models.summary`` gives it: parameters by bit
width, memory packed vs float32, and binary vs float multiply-accumulates.

Bit widths come from each quantized layer's own declaration (``quantized_parameters``), the same
one the optimizer grouping and the converter read. A multiply-accumulate counts as binary when
both of its operands are 1 bit (it runs as XNOR-popcount; a layer's input is 1 bit when its own
quantizer or the 1-bit quantizer module right before it makes it so), as k-bit when both have 8
bits or fewer (it runs bit-serially, as ``k x l`` AND-popcounts); otherwise it counts as a float
MAC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from onebit._registry import OnebitError
from onebit.nn.base import QuantizedLayer
from onebit.quantizers import Quantizer

MAX_KBIT = 8
"""The widest operand the engine multiplies bit-serially."""


@dataclass(frozen=True)
class LayerSummary:
    """One row: a layer and what it costs."""

    name: str
    kind: str
    input_bits: int | None
    output_shape: tuple[int, ...]
    binary_params: int
    float_params: int
    binary_macs: int
    float_macs: int
    other_params: dict[int, int] = field(default_factory=dict)  # k-bit params, 1 < k < 32
    weight_bits: int | None = None  # a quantized layer's weight width; None for other layers
    kbit_macs: int = 0  # both operands 2 to 8 bits (or one of them 1): bit-serial

    @property
    def kbit_params(self) -> int:
        return sum(self.other_params.values())

    @property
    def packed_bytes(self) -> float:
        other = sum(bits * count for bits, count in self.other_params.items())
        return (self.binary_params + other) / 8 + 4 * self.float_params

    @property
    def float32_bytes(self) -> int:
        return 4 * (self.binary_params + self.float_params + sum(self.other_params.values()))

    @property
    def params(self) -> int:
        return self.binary_params + self.float_params + sum(self.other_params.values())


@dataclass(frozen=True)
class ModelSummary:
    """All rows, and the totals over them."""

    layers: list[LayerSummary]
    input_shape: tuple[int, ...]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def binary_params(self) -> int:
        return sum(layer.binary_params for layer in self.layers)

    @property
    def packed_bytes(self) -> float:
        return sum(layer.packed_bytes for layer in self.layers)

    @property
    def float32_bytes(self) -> int:
        return sum(layer.float32_bytes for layer in self.layers)

    @property
    def binary_macs(self) -> int:
        return sum(layer.binary_macs for layer in self.layers)

    @property
    def float_macs(self) -> int:
        return sum(layer.float_macs for layer in self.layers)

    @property
    def kbit_macs(self) -> int:
        return sum(layer.kbit_macs for layer in self.layers)

    @property
    def kbit_params(self) -> int:
        return sum(layer.kbit_params for layer in self.layers)

    @property
    def compression(self) -> float:
        return self.float32_bytes / self.packed_bytes if self.packed_bytes else 1.0

    def size_text(self) -> str:
        """Packed vs float32 memory in words; a model with no 1-bit parameters says so instead
        of claiming to be "1.0x smaller"."""
        if not self.binary_params:
            return f"{self.float32_bytes / 1e6:.3f} MB float32 (not binarized: no 1-bit weights)"
        return (
            f"{self.packed_bytes / 1e6:.3f} MB with 1-bit weights packed vs "
            f"{self.float32_bytes / 1e6:.3f} MB float32 ({self.compression:.1f}x smaller)"
        )


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Quantized layers whole, and every other leaf module not inside one."""
    if isinstance(model, QuantizedLayer):
        return [("", model)]
    chosen: list[tuple[str, nn.Module]] = []
    inside: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in inside):
            continue
        if isinstance(module, QuantizedLayer):
            chosen.append((name, module))
            inside.append(name)
        elif next(module.children(), None) is None:
            chosen.append((name, module))
    return chosen


def _macs(module: nn.Module, output: torch.Tensor) -> int:
    """Multiply-accumulates for one sample."""
    if isinstance(module, nn.Linear):
        return module.in_features * module.out_features * math.prod(output.shape[1:-1])
    if isinstance(module, nn.modules.conv._ConvNd):
        per_output = module.in_channels // module.groups * math.prod(module.kernel_size)
        return per_output * math.prod(output.shape[1:])
    return 0


def summarize(model: nn.Module, input_shape: Sequence[int] | None = None) -> ModelSummary:
    """Summarize ``model`` for one input of ``input_shape`` (default: ``model.input_shape``), of
    ``model.input_dtype`` when it has one (a text model's int64 token ids), else float32."""
    shape = tuple(input_shape or getattr(model, "input_shape", ()) or ())
    if not shape:
        raise OnebitError("the model has no input_shape attribute; pass input_shape")
    layers = _layers(model)
    outputs: dict[str, torch.Tensor] = {}
    inputs: dict[str, object] = {}
    signs: list[torch.Tensor] = []  # outputs of 1-bit quantizer modules (kept alive for `is`)

    def record(module: nn.Module, args: tuple, out: object, name: str) -> None:
        outputs[name] = out
        inputs[name] = args[0] if args else None
        if isinstance(module, Quantizer) and module.precision == 1:
            signs.append(out)

    handles = [
        module.register_forward_hook(lambda mod, args, out, name=name: record(mod, args, out, name))
        for name, module in layers
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *shape, dtype=getattr(model, "input_dtype", torch.float32)))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()

    rows = []
    for name, module in layers:
        output = outputs.get(name)
        out_shape = tuple(output.shape[1:]) if isinstance(output, torch.Tensor) else ()
        declared = module.quantized_parameters() if isinstance(module, QuantizedLayer) else {}
        binary = floats = 0
        other: dict[int, int] = {}
        for param_name, param in module.named_parameters():
            bits = declared.get(param_name, 32)
            if bits == 1:
                binary += param.numel()
            elif bits >= 32:
                floats += param.numel()
            else:
                other[bits] = other.get(bits, 0) + param.numel()
        macs = _macs(module, output) if isinstance(output, torch.Tensor) else 0
        quantized = isinstance(module, QuantizedLayer)
        # a layer without an input quantizer that reads a sign module's output (ReActNet's
        # RSign before its conv) runs as XNOR-popcount too: the converter packs that input
        signed_input = (
            quantized
            and module.input_quantizer is None
            and any(inputs.get(name) is sign for sign in signs)
        )
        is_binary = quantized and (
            module.is_binary or (signed_input and module.weight_precision == 1)
        )
        is_kbit = (
            quantized
            and not is_binary
            and max(module.input_precision, module.weight_precision) <= MAX_KBIT
        )
        input_bits = (1 if signed_input else module.input_precision) if quantized else None
        weight_bits = module.weight_precision if quantized else None
        if isinstance(module, (Quantizer, nn.Embedding)):  # a quantizer's input; token ids
            input_bits = None
        rows.append(
            LayerSummary(
                name=name or type(module).__name__,
                kind=type(module).__name__,
                input_bits=input_bits,
                output_shape=out_shape,
                binary_params=binary,
                float_params=floats,
                binary_macs=macs if is_binary else 0,
                float_macs=0 if is_binary or is_kbit else macs,
                other_params=other,
                weight_bits=weight_bits,
                kbit_macs=macs if is_kbit else 0,
            )
        )
    return ModelSummary(rows, shape)


def _count(n: float) -> str:
    return f"{n:,.0f}" if n else "0"


def summary_table(summary: ModelSummary, title: str = "") -> Table:
    """The summary as a rich table, with a totals row."""
    table = Table(title=title or None, show_footer=True, header_style="bold")
    table.add_column("Layer", footer="Total")
    table.add_column("Type")
    table.add_column("In bits", justify="right")
    table.add_column("W bits", justify="right")
    table.add_column("Output", justify="right")
    table.add_column("1-bit params", justify="right", footer=_count(summary.binary_params))
    if summary.kbit_params:
        table.add_column("k-bit params", justify="right", footer=_count(summary.kbit_params))
    floats = summary.params - summary.binary_params - summary.kbit_params
    table.add_column("32-bit params", justify="right", footer=_count(floats))
    table.add_column("Packed kB", justify="right", footer=f"{summary.packed_bytes / 1000:,.2f}")
    table.add_column("fp32 kB", justify="right", footer=f"{summary.float32_bytes / 1000:,.2f}")
    table.add_column("1-bit MACs", justify="right", footer=_count(summary.binary_macs))
    if summary.kbit_macs:
        table.add_column("k-bit MACs", justify="right", footer=_count(summary.kbit_macs))
    table.add_column("32-bit MACs", justify="right", footer=_count(summary.float_macs))
    for row in summary.layers:
        cells = [
            row.name,
            row.kind,
            "-" if row.input_bits is None else str(row.input_bits),
            "-" if row.weight_bits is None else str(row.weight_bits),
            "x".join(map(str, row.output_shape)) or "-",
            _count(row.binary_params),
            *([_count(row.kbit_params)] if summary.kbit_params else []),
            _count(row.params - row.binary_params - row.kbit_params),
            f"{row.packed_bytes / 1000:,.2f}",
            f"{row.float32_bytes / 1000:,.2f}",
            _count(row.binary_macs),
            *([_count(row.kbit_macs)] if summary.kbit_macs else []),
            _count(row.float_macs),
        ]
        table.add_row(*cells)
    return table


def print_summary(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    console: Console | None = None,
    title: str = "",
) -> ModelSummary:
    """Print the per-layer table and the totals; returns the summary."""
    summary = summarize(model, input_shape)
    console = console or Console(width=max(Console().width, 132))
    console.print(summary_table(summary, title))
    console.print(
        f"Total params: {summary.params:,}  (1-bit: {summary.binary_params:,}, "
        + (f"k-bit: {summary.kbit_params:,}, " if summary.kbit_params else "")
        + f"32-bit: {summary.params - summary.binary_params - summary.kbit_params:,})\n"
        f"Memory: {summary.size_text()}\n"
        f"MACs: {summary.binary_macs:,} binary, "
        + (f"{summary.kbit_macs:,} k-bit (bit-serial), " if summary.kbit_macs else "")
        + f"{summary.float_macs:,} float"
    )
    return summary
