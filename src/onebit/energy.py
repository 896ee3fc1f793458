"""Energy per inference from a per-operation energy table: a model, not a measurement.

The table is Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014
(45 nm, 0.9 V): the energy of one arithmetic operation and of one 64-bit memory access, in
picojoules (:data:`HOROWITZ_45NM`). :func:`estimate_energy` multiplies the counts of a
:class:`~onebit.summary.ModelSummary` (MACs, parameters at their stored width, output sizes) by
those figures, layer by layer, for the model as it is and for its float twin (the same layers
with every parameter, MAC and activation at 32 bits).

The model, all of it here:

- **Binary MAC** (1-bit weight and input): XNOR-popcount over a 64-bit word does 64 MACs. The
  word costs one 64-bit XNOR, charged as two 32-bit integer adds (the table has no logic
  operation; an adder is the larger circuit), a popcount as a tree of 63 adds each charged as an
  8-bit add (no adder in the tree is wider than 7 bits), and one 32-bit add to accumulate:
  ``(2 * 0.1 + 63 * 0.03 + 0.1) / 64 = 0.0342`` pJ per MAC (:meth:`EnergyTable.binary_mac`).
- **k-bit MAC** (weights of k bits and inputs of l bits, both at most 8): bit-serial, as
  ``k * l`` binary plane products, plus one 32-bit add per plane and output to combine them.
- **Float MAC** (every other MAC, including a 1-bit weight against a float input): a 32-bit
  float multiply and add, ``3.7 + 0.9 = 4.6`` pJ.
- **Layers without MACs** (normalization, activation, pooling, padding): one float multiply and
  add per output element, the same in both models; pure reshapes (``VIEW_KINDS``) cost nothing.
- **Weights**: read once per inference at their stored width (1-bit and k-bit packed, else 32
  bits), in whole 64-bit words per layer. They are read from on-chip SRAM when all of the
  model's weights fit in ``on_chip_bytes`` (default 1 MiB), else from DRAM; the SRAM figure is
  that of the smallest of Horowitz's caches (8 KB, 32 KB, 1 MB) holding ``on_chip_bytes``, and
  the 1 MB one beyond that.
- **Activations**: each layer's output is written once and read once, in whole 64-bit words, at
  the width its reader takes: the next layer's input precision when that is below 32 bits (the
  sign is fused into the producer, as the engine does), else 32 bits. A tensor that fits in
  ``on_chip_bytes`` stays in SRAM, else it goes to DRAM; the budget is checked for the weights
  and for each activation tensor alone, not for their sum. A write costs what a read does.
- **DRAM**: Horowitz gives 1.3-2.6 nJ per 64-bit access; this uses the low end, 1.3 nJ, which
  understates the cost of the larger (float) model's traffic, so it errs against the binary one.

What it leaves out: control, instruction fetch and decode, register files, leakage and clocks,
im2col and other copies, cache misses and line granularity, the network input, the padding of a
layer's last word, the data flow of residual blocks (the "next layer" is the next row of the
summary, in module order), threading and synchronization, and the process node (45 nm figures
scale unevenly to newer nodes). A CPU spends far more per instruction than its arithmetic costs,
and that overhead does not shrink with the operand width: costs both models pay pull a measured
ratio towards 1, and instruction counts (which this model does not see) move it either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from onebit._registry import OnebitError
from onebit.summary import LayerSummary, ModelSummary

KIB = 1024
MIB = 1024 * KIB
ON_CHIP_BYTES = MIB
"""The default on-chip SRAM budget: 1 MiB, costed with Horowitz's 1 MB cache figure."""
CAVEAT = "an estimate from a per-operation energy model (Horowitz 2014, 45 nm), not a measurement"
KBIT_MAX = 8
"""The widest operands a MAC runs bit-serially with; wider ones are float MACs."""
VIEW_KINDS = ("Flatten", "Unflatten", "Identity", "Dropout")
"""Layers that only reshape or pass their input on: no arithmetic and no memory traffic."""
LEAVES_OUT = (
    "control, instruction fetch and decode",
    "register files",
    "leakage and clock power",
    "im2col and other copies",
    "cache misses and line granularity",
    "the network input and the padding of each layer's last 64-bit word",
    "the data flow of residual blocks (the next summary row is taken as the reader)",
    "threading and synchronization",
    "scaling from 45 nm to the node a chip is made in",
)


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation in picojoules, and per 64-bit memory access.

    Attributes:
        name: where the figures come from.
        int8_add, int32_add, int8_mult, int32_mult: integer add and multiply.
        float16_add, float16_mult, float32_add, float32_mult: IEEE float add and multiply.
        sram: ``(capacity in bytes, pJ per 64-bit read)`` of each cache size, smallest first.
        dram: pJ per 64-bit DRAM access.
        word_bits: the memory word and the XNOR-popcount word (64).
    """

    name: str
    int8_add: float
    int32_add: float
    int8_mult: float
    int32_mult: float
    float16_add: float
    float16_mult: float
    float32_add: float
    float32_mult: float
    sram: tuple[tuple[int, float], ...]
    dram: float
    word_bits: int = 64
    notes: tuple[str, ...] = field(default=())

    def binary_word(self) -> float:
        """XNOR-popcount-accumulate of one word (``word_bits`` binary MACs): an XNOR charged as
        two 32-bit adds, a popcount tree of ``word_bits - 1`` adds charged as 8-bit adds, and
        one 32-bit accumulate."""
        xnor = 2 * self.int32_add
        popcount = (self.word_bits - 1) * self.int8_add
        return xnor + popcount + self.int32_add

    def binary_mac(self) -> float:
        """One binary MAC: a ``word_bits``-th of :meth:`binary_word`."""
        return self.binary_word() / self.word_bits

    def float_mac(self) -> float:
        """One float32 multiply and add."""
        return self.float32_mult + self.float32_add

    def sram_read(self, on_chip_bytes: float) -> float:
        """A 64-bit read from the smallest listed SRAM that holds ``on_chip_bytes`` (the
        largest listed one beyond them)."""
        for capacity, energy in self.sram:
            if on_chip_bytes <= capacity:
                return energy
        return self.sram[-1][1]

    def access(self, nbytes: float, on_chip_bytes: float) -> float:
        """A 64-bit access to data of ``nbytes``: SRAM when it fits in the budget, else DRAM."""
        if on_chip_bytes > 0 and nbytes <= on_chip_bytes:
            return self.sram_read(on_chip_bytes)
        return self.dram


HOROWITZ_45NM = EnergyTable(
    name="Horowitz, ISSCC 2014, 45 nm, 0.9 V",
    int8_add=0.03,
    int32_add=0.1,
    int8_mult=0.2,
    int32_mult=3.1,
    float16_add=0.4,
    float16_mult=1.1,
    float32_add=0.9,
    float32_mult=3.7,
    sram=((8 * KIB, 10.0), (32 * KIB, 20.0), (MIB, 100.0)),
    dram=1300.0,
    notes=(
        "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014",
        "memory figures are per 64-bit access; SRAM from 8 KB, 32 KB and 1 MB caches",
        "DRAM: 1.3-2.6 nJ in the source; the low end is used",
    ),
)


@dataclass(frozen=True)
class EnergyRow:
    """One layer's energy per inference, in picojoules."""

    name: str
    kind: str
    arithmetic_pj: float
    weight_pj: float
    activation_pj: float

    @property
    def total_pj(self) -> float:
        return self.arithmetic_pj + self.weight_pj + self.activation_pj


@dataclass(frozen=True)
class EnergyReport:
    """Every layer's energy and the totals, for the model or (``float_twin``) its float twin."""

    rows: list[EnergyRow]
    float_twin: bool
    weights_on_chip: bool
    on_chip_bytes: float
    table: EnergyTable

    @property
    def arithmetic_pj(self) -> float:
        return sum(row.arithmetic_pj for row in self.rows)

    @property
    def weight_pj(self) -> float:
        return sum(row.weight_pj for row in self.rows)

    @property
    def activation_pj(self) -> float:
        return sum(row.activation_pj for row in self.rows)

    @property
    def total_pj(self) -> float:
        return sum(row.total_pj for row in self.rows)

    def totals(self) -> dict[str, float | bool]:
        """The totals in picojoules and where the weights were read from, JSON-ready."""
        return {
            "arithmetic_pj": self.arithmetic_pj,
            "weight_pj": self.weight_pj,
            "activation_pj": self.activation_pj,
            "total_pj": self.total_pj,
            "weights_on_chip": self.weights_on_chip,
        }


@dataclass(frozen=True)
class EnergyComparison:
    """A model's energy and its float twin's, from the same summary."""

    binary: EnergyReport
    twin: EnergyReport

    @property
    def ratio(self) -> float:
        """Float twin over model: how many times less energy the model is estimated to take."""
        return self.twin.total_pj / self.binary.total_pj if self.binary.total_pj else 1.0


def _weight_bits(row: LayerSummary) -> int:
    """The stored width of a layer's weight (its widest declared one below 32 bits), else 32."""
    return max([*row.other_params, *([1] if row.binary_params else [])], default=32)


def _stored_bits(row: LayerSummary, float_twin: bool) -> int:
    if float_twin:
        return 32 * row.params
    packed = sum(bits * count for bits, count in row.other_params.items())
    return row.binary_params + packed + 32 * row.float_params


def _macs(row: LayerSummary) -> tuple[int, int, int]:
    """A layer's binary, bit-serial (k-bit) and float MACs."""
    kbit = getattr(row, "kbit_macs", 0)  # a summary that counts k-bit MACs apart from float ones
    floats = row.float_macs
    if not kbit and _weight_bits(row) <= KBIT_MAX and (row.input_bits or 32) <= KBIT_MAX:
        kbit, floats = floats, 0
    return row.binary_macs, kbit, floats


def _arithmetic(row: LayerSummary, table: EnergyTable, float_twin: bool) -> float:
    outputs = math.prod(row.output_shape)
    binary, kbit, floats = _macs(row)
    if not binary + kbit + floats:
        return outputs * table.float_mac()
    if float_twin:
        return (binary + kbit + floats) * table.float_mac()
    energy = binary * table.binary_mac() + floats * table.float_mac()
    if kbit:  # k x l binary planes, and one 32-bit add per plane and output to combine them
        planes = _weight_bits(row) * (row.input_bits or 32)
        energy += kbit * planes * table.binary_mac() + outputs * planes * table.int32_add
    return energy


def _output_bits(layers: list[LayerSummary], index: int, float_twin: bool) -> int:
    """The width the next (non-view) layer reads this layer's output at."""
    if float_twin:
        return 32
    for reader in layers[index + 1 :]:
        if reader.kind not in VIEW_KINDS:
            bits = reader.input_bits
            return bits if bits is not None and bits < 32 else 32
    return 32


def _words(bits: int, word_bits: int) -> int:
    return -(-bits // word_bits)


def estimate_energy(
    summary: ModelSummary,
    table: EnergyTable = HOROWITZ_45NM,
    on_chip_bytes: float = ON_CHIP_BYTES,
    float_twin: bool = False,
) -> EnergyReport:
    """Energy per inference of the summarized model, layer by layer (the module docstring gives
    the whole model and what it leaves out).

    Args:
        summary: what :func:`onebit.summary.summarize` returned for the model.
        table: the energy of each operation and memory access.
        on_chip_bytes: the SRAM budget; weights and activations larger than it live in DRAM.
            0 puts everything in DRAM, ``math.inf`` everything in the largest listed SRAM.
        float_twin: estimate the twin instead: every parameter, MAC and activation at 32 bits.
    """
    if on_chip_bytes < 0:
        raise OnebitError(f"on_chip_bytes must be at least 0, got {on_chip_bytes}")
    model_bytes = summary.float32_bytes if float_twin else summary.packed_bytes
    weights_on_chip = on_chip_bytes > 0 and model_bytes <= on_chip_bytes
    weight_access = table.access(model_bytes, on_chip_bytes)
    rows = []
    for index, row in enumerate(summary.layers):
        if row.kind in VIEW_KINDS:
            rows.append(EnergyRow(row.name, row.kind, 0.0, 0.0, 0.0))
            continue
        weight_words = _words(_stored_bits(row, float_twin), table.word_bits)
        output_bits = math.prod(row.output_shape) * _output_bits(summary.layers, index, float_twin)
        output_access = table.access(output_bits / 8, on_chip_bytes)
        rows.append(
            EnergyRow(
                name=row.name,
                kind=row.kind,
                arithmetic_pj=_arithmetic(row, table, float_twin),
                weight_pj=weight_words * weight_access,
                activation_pj=2 * _words(output_bits, table.word_bits) * output_access,
            )
        )
    return EnergyReport(rows, float_twin, weights_on_chip, on_chip_bytes, table)


def compare_energy(
    summary: ModelSummary,
    table: EnergyTable = HOROWITZ_45NM,
    on_chip_bytes: float = ON_CHIP_BYTES,
) -> EnergyComparison:
    """The model's :func:`estimate_energy` and its float twin's, under the same table and
    budget."""
    return EnergyComparison(
        estimate_energy(summary, table, on_chip_bytes),
        estimate_energy(summary, table, on_chip_bytes, float_twin=True),
    )


def joules_text(pj: float) -> str:
    """Picojoules in the unit that reads best (pJ, nJ, µJ or mJ)."""
    for unit, scale in (("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if pj >= scale:
            return f"{pj / scale:,.2f} {unit}"
    return f"{pj:,.2f} pJ"


def _ratio_text(twin: float, binary: float) -> str:
    return f"{twin / binary:,.1f}x" if binary else "-"


def energy_table(comparison: EnergyComparison, title: str = "") -> Table:
    """Per layer: the model's energy (arithmetic, weights, activations, total) and its float
    twin's, in nJ, and the ratio; with a totals row."""
    binary, twin = comparison.binary, comparison.twin
    table = Table(title=title or None, show_footer=True, header_style="bold")
    table.add_column("Layer", footer="Total")
    table.add_column("Type")
    for header, total in (
        ("Arith nJ", binary.arithmetic_pj),
        ("Weights nJ", binary.weight_pj),
        ("Acts nJ", binary.activation_pj),
        ("Model nJ", binary.total_pj),
        ("Float twin nJ", twin.total_pj),
    ):
        table.add_column(header, justify="right", footer=f"{total / 1e3:,.2f}")
    table.add_column(
        "Twin/model", justify="right", footer=_ratio_text(twin.total_pj, binary.total_pj)
    )
    for row, twin_row in zip(binary.rows, twin.rows, strict=True):
        table.add_row(
            row.name,
            row.kind,
            *(
                f"{pj / 1e3:,.2f}"
                for pj in (row.arithmetic_pj, row.weight_pj, row.activation_pj, row.total_pj)
            ),
            f"{twin_row.total_pj / 1e3:,.2f}",
            _ratio_text(twin_row.total_pj, row.total_pj),
        )
    return table


def _placement(report: EnergyReport) -> str:
    return "on-chip SRAM" if report.weights_on_chip else "DRAM"


def print_energy(
    summary: ModelSummary,
    console: Console | None = None,
    title: str = "",
    table: EnergyTable = HOROWITZ_45NM,
    on_chip_bytes: float = ON_CHIP_BYTES,
) -> EnergyComparison:
    """Print the per-layer energy table, the totals and the caveat; returns the comparison."""
    comparison = compare_energy(summary, table, on_chip_bytes)
    binary, twin = comparison.binary, comparison.twin
    console = console or Console(width=max(Console().width, 132))
    console.print(energy_table(comparison, title))
    console.print(
        f"Energy per inference: {joules_text(binary.total_pj)} vs "
        f"{joules_text(twin.total_pj)} for the float twin ({comparison.ratio:,.1f}x)\n"
        f"Weights from {_placement(binary)} (model) and {_placement(twin)} (float twin), "
        f"with {on_chip_bytes / KIB:,.0f} KiB on chip\n"
        f"This is {CAVEAT}.",
        highlight=False,
    )
    return comparison
