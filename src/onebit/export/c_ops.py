"""One C emitter per program op: the call into ``c_runtime.c`` that runs it, its constants and the
scratch it needs. Registered by op type in :data:`EMITTERS`; an op type with no emitter cannot be
exported (:class:`ExportError` names it).

Every emitter serves three arithmetics of the same network (:data:`ARITHMETICS`): ``binary``, the
model itself, with +-1 values packed 32 to a word and XNOR-popcount layers; and its ``float32`` and
``int8`` twins, which hold the same +-1 weights and activations as floats or int8 and multiply
them out, as an engine without binary kernels would. The twins compute the same function (every
+-1 product is exact), so they are the fair baseline for flash, RAM and instruction counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from onebit._registry import OnebitError, Registry
from onebit.export.c_source import C_WORD_BITS, const_array, float_literal, words32
from onebit.runtime.bit_format import WORD_BITS, WORD_DTYPE, words_for
from onebit.runtime.ops import Op
from onebit.runtime.reference import unpack
from onebit.runtime.shapes import Value

ARITHMETICS = ("binary", "float32", "int8")
SIGN_FORMS = {"binary": "packed", "float32": "float", "int8": "int8"}
"""How each arithmetic stores a +-1 value: packed bits, float +-1.0, int8 +-1."""


class ExportError(OnebitError):
    """A program, or a part of it, that the C exporter cannot turn into C."""


@dataclass
class CValue:
    """A program value in the generated C: floats, or signs in one of SIGN_FORMS' forms."""

    name: str
    kind: str  # "float" or "bits"
    shape: tuple[int, ...]  # the program's, per sample (bits: its 64-bit words)
    channels: int  # float: the last axis; bits: real bits per row
    rows: int = 1  # bits: rows (pixels, or a flatten's rows) of `channels` signs
    form: str = "packed"  # bits: "packed" (ceil(channels / 32) words per row), "float", "int8"

    @property
    def row_words(self) -> int:
        return -(-self.channels // C_WORD_BITS)

    @property
    def elements(self) -> int:
        """floats, 32-bit words or int8 values."""
        if self.kind != "bits":
            return math.prod(self.shape)
        return self.rows * (self.row_words if self.form == "packed" else self.channels)

    @property
    def c_type(self) -> str:
        if self.kind == "float" or self.form == "float":
            return "float"
        return "uint32_t" if self.form == "packed" else "int8_t"

    @property
    def nbytes(self) -> int:
        return self.elements * (1 if self.c_type == "int8_t" else 4)


@dataclass
class Emitted:
    """What an op contributes: its statements, constants, kernels and per-call scratch."""

    statements: list[str] = field(default_factory=list)
    scratch: int = 0  # bytes, alive during this op only


class ModelText:
    """The constants and kernels collected for one generated model in one arithmetic."""

    def __init__(self, prefix: str, arithmetic: str = "binary") -> None:
        if arithmetic not in ARITHMETICS:
            raise ExportError(f"arithmetic must be one of {ARITHMETICS}, got {arithmetic!r}")
        self.prefix = prefix
        self.arithmetic = arithmetic
        self.form = SIGN_FORMS[arithmetic]
        self.constants: list[str] = []
        self.const_bytes = 0
        self.kernels: set[str] = set()

    def const(self, c_type: str, role: str, op_index: int, values: np.ndarray) -> str:
        name = f"{self.prefix}_op{op_index}_{role}"
        text, size = const_array(c_type, name, values)
        self.constants.append(text)
        self.const_bytes += size
        return name


@dataclass
class Call:
    """The op being emitted: its index, spec object, inputs and output, and where each lives in
    C (``pointer(name, c_type)`` gives an expression for a value's buffer)."""

    index: int
    op: Op
    inputs: list[CValue]
    input_values: list[Value]
    output: Value
    text: ModelText
    pointer: Callable[[str, str], str]
    scratch_pointer: Callable[..., str]  # (c_type, byte offset in the op's scratch = 0)

    @property
    def where(self) -> str:
        return self.op.where

    def fail(self, why: str) -> ExportError:
        return ExportError(f"op #{self.index} {self.where}: {why}")

    def op_input(self, i: int) -> Value:
        """The program's view of input ``i`` (its shape as the engine stores it)."""
        return self.input_values[i]

    def arg(self, i: int = 0) -> str:
        value = self.inputs[i]
        return self.pointer(value.name, value.c_type)


Emitter = Callable[[Call], tuple[CValue, Emitted]]
EMITTERS: Registry[Emitter] = Registry("C emitter")


def _float_value(call: Call) -> CValue:
    return CValue(call.op.spec["output"], "float", call.output.shape, call.output.shape[-1])


def _bits_value(call: Call, rows: int, channels: int) -> CValue:
    shape = call.output.shape
    return CValue(call.op.spec["output"], "bits", shape, channels, rows, call.text.form)


def _output(call: Call) -> CValue:
    """The output of a layer: float, or bits packed per pixel."""
    value = call.output
    if value.kind == "float":
        return _float_value(call)
    if value.kind == "bits":
        return _bits_value(call, math.prod(value.shape[:-1]), value.row_bits)
    raise call.fail(f"its {value.kind} output has no C form (only float and packed bits)")


def _steps(call: Call, post, residuals: Sequence[CValue]) -> tuple[list[str], str, int]:
    """C declarations of a post tail's steps: (statements, the steps' name, their count)."""
    entries = []
    for template in post.templates if post else []:
        kind = template[0]
        if kind == "affine":
            scale = call.text.const("float", f"step{len(entries)}_scale", call.index, template[1])
            bias = call.text.const("float", f"step{len(entries)}_bias", call.index, template[2])
            entries.append(f"{{OB_AFFINE, {scale}, {bias}, 0.0f, 0.0f, 0}}")
        elif kind == "relu":
            entries.append("{OB_RELU, 0, 0, 0.0f, 0.0f, 0}")
        elif kind == "prelu":
            slope = call.text.const("float", f"step{len(entries)}_slope", call.index, template[1])
            entries.append(f"{{OB_PRELU, {slope}, 0, 0.0f, 0.0f, 0}}")
        elif kind == "hardtanh":
            low, high = float_literal(template[1]), float_literal(template[2])
            entries.append(f"{{OB_HARDTANH, 0, 0, {low}, {high}, 0}}")
        else:  # add: the op's next extra input
            residual = residuals[template[1]]
            pointer = call.pointer(residual.name, "float")
            entries.append(f"{{OB_ADD, 0, 0, 0.0f, 0.0f, {pointer}}}")
    if not entries:
        return [], "0", 0
    return (
        [f"const ob_step steps[{len(entries)}] = {{{', '.join(entries)}}};"],
        "steps",
        len(entries),
    )


def _epilogue(call: Call, epilogue, post) -> list[str]:
    """C statements declaring ``e``, the op's ``ob_epilogue``."""
    call.text.kernels.add("epilogue")
    statements, steps, n_steps = _steps(call, post, call.inputs[1:])
    kind = epilogue.kind
    scale = bias = threshold = flip = "0"
    if kind in ("float", "affine", "sign"):
        scale = call.text.const("float", "scale", call.index, epilogue.scale)
        bias = call.text.const("float", "bias", call.index, epilogue.bias)
    if kind == "bits":
        threshold = call.text.const("int32_t", "threshold", call.index, epilogue.threshold)
        flip = call.text.const("uint8_t", "flip", call.index, epilogue.flip)
    c_kind = {"float": "OB_FLOAT", "affine": "OB_FLOAT", "sign": "OB_SIGN", "bits": "OB_BITS"}
    if kind == "int":
        raise call.fail("an int32 output has no C form: give the layer a float or bits epilogue")
    statements.append(
        f"const ob_epilogue e = {{{c_kind.get(kind, 'OB_NONE')}, {scale}, {bias}, {threshold}, "
        f"{flip}, {steps}, {n_steps}}};"
    )
    return statements


def _out_pointers(call: Call, out: CValue) -> str:
    """The ``ob_out`` argument of a layer kernel: where its floats or signs go."""
    pointer = call.pointer(out.name, out.c_type)
    slot = {"float": 0, "uint32_t": 1, "int8_t": 2}[out.c_type]
    fields = [pointer if i == slot else "0" for i in range(3)]
    return f"(ob_out){{{', '.join(fields)}}}"


def _signs(weights: np.ndarray, row_bits: int, arithmetic: str) -> tuple[str, np.ndarray]:
    """Packed 64-bit weight rows (``row_bits`` real bits each, along the last axis) in the
    arithmetic's form: (C type, array) of 32-bit words, float +-1.0 or int8 +-1."""
    if arithmetic == "binary":
        return "uint32_t", words32(weights, row_bits)
    *outer, last = weights.shape
    rows = last // words_for(row_bits)
    values = unpack(weights.reshape(*outer, rows, -1), row_bits).reshape(*outer, rows * row_bits)
    return ("float", values) if arithmetic == "float32" else ("int8_t", values.astype(np.int8))


def _geometry(
    call: Call, x: Value, out: Value, kernel, stride, top: int, left: int, dilation=(1, 1)
) -> str:
    call.text.kernels.add("conv_geometry")
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    return (
        f"const ob_conv_geometry g = {{{x.shape[0]}, {x.shape[1]}, {out.shape[0]}, "
        f"{out.shape[1]}, {kh}, {kw}, {sh}, {sw}, {top}, {left}, {dh}, {dw}}};"
    )


def _block(*statements: str) -> list[str]:
    return ["{", *(f"  {s}" for s in statements), "}"]


@EMITTERS.register("binary_dense")
def _binary_dense(call: Call) -> tuple[CValue, Emitted]:
    op, x = call.op, call.inputs[0]
    out = _output(call)
    cout = len(op.weight)
    c_type, weight = _signs(op.weight, x.channels, call.text.arithmetic)
    weight = weight.reshape(cout, -1)
    if weight.shape[1] != x.elements:
        raise call.fail(f"its weight rows hold {weight.shape[1]} values, its input {x.elements}")
    name = call.text.const(c_type, "weight", call.index, weight)
    statements = _epilogue(call, op.epilogue, op.post)
    o = _out_pointers(call, out)
    features = weight.shape[1]
    if call.text.arithmetic == "binary":
        call.text.kernels.add("binary_dense")
        acc = call.scratch_pointer("int32_t")
        run = f"ob_binary_dense({call.arg()}, {name}, {op.k}, {features}, {cout}, &e, {o}, {acc});"
    elif call.text.arithmetic == "float32":
        call.text.kernels.add("dense")
        y = call.scratch_pointer("float")
        run = f"ob_dense({call.arg()}, {features}, {cout}, {name}, 0, 0, &e, {o}, {y});"
    else:
        call.text.kernels.add("dense_s8")
        acc = call.scratch_pointer("int32_t")
        run = f"ob_dense_s8({call.arg()}, {features}, {cout}, {name}, &e, {o}, {acc});"
    return out, Emitted(_block(*statements, run), scratch=4 * cout)


@EMITTERS.register("binary_conv2d")
def _binary_conv2d(call: Call) -> tuple[CValue, Emitted]:
    op, x = call.op, call.inputs[0]
    out = _output(call)
    cout, kh, kw, _ = op.weight.shape
    (ph, pw), pad_one, groups = op.padding, op.pad_value == 1.0, op.groups
    group_in = op.cin // groups
    c_type, weight = _signs(op.weight, group_in, call.text.arithmetic)
    statements = [
        _geometry(call, call.op_input(0), call.output, (kh, kw), op.stride, ph, pw, op.dilation)
    ]
    name = call.text.const(c_type, "weight", call.index, weight)
    statements += _epilogue(call, op.epilogue, op.post)
    o = _out_pointers(call, out)
    # scratch: the accumulators, then the gathered window (patch), then the binary kernel's
    # list of padded taps
    taps = kh * kw
    acc = call.scratch_pointer("int32_t")
    if call.text.arithmetic == "binary":
        call.text.kernels.add("binary_conv2d")
        patch_bytes = 4 * taps * -(-group_in // C_WORD_BITS)  # one group's taps
        patch = call.scratch_pointer("uint32_t", 4 * cout)
        padded = call.scratch_pointer("int32_t", 4 * cout + patch_bytes)
        run = (
            f"ob_binary_conv2d({call.arg()}, &g, {op.cin}, {x.row_words}, {groups}, {name}, "
            f"{cout}, {int(pad_one)}, &e, {o}, {acc}, {patch}, {padded});"
        )
        scratch = 4 * cout + patch_bytes + 4 * taps
    elif call.text.arithmetic == "float32":
        call.text.kernels.add("conv2d")
        y, patch = call.scratch_pointer("float"), call.scratch_pointer("float", 4 * cout)
        pad = float_literal(1.0 if pad_one else 0.0)
        run = (
            f"ob_conv2d({call.arg()}, &g, {op.cin}, {cout}, {groups}, {name}, 0, 0, {pad}, &e, "
            f"{o}, {y}, {patch});"
        )
        scratch = 4 * cout + 4 * taps * op.cin
    else:
        call.text.kernels.add("conv2d_s8")
        patch = call.scratch_pointer("int8_t", 4 * cout)
        run = (
            f"ob_conv2d_s8({call.arg()}, &g, {op.cin}, {cout}, {groups}, {name}, {int(pad_one)}, "
            f"&e, {o}, {acc}, {patch});"
        )
        scratch = 4 * cout + taps * op.cin
    return out, Emitted(_block(*statements, run), scratch=scratch)


def _float_weights(call: Call, row_bits: int) -> str:
    """The ``weight, weight_bits, weight_s8`` arguments of a float layer: float32 as stored, or
    its +-1 ``weight_bits`` in the arithmetic's form."""
    if "weight_bits" in call.op.spec.get("tensors", {}):
        bits = call.op.tensor("weight_bits", WORD_DTYPE)
        c_type, values = _signs(bits, row_bits, call.text.arithmetic)
        name = call.text.const(c_type, "weight", call.index, values)
        return {"float": f"{name}, 0, 0", "uint32_t": f"0, {name}, 0", "int8_t": f"0, 0, {name}"}[
            c_type
        ]
    weight = call.op.tensor("weight", np.float32)
    return f"{call.text.const('float', 'weight', call.index, weight)}, 0, 0"


@EMITTERS.register("dense")
def _dense(call: Call) -> tuple[CValue, Emitted]:
    op = call.op
    features, outputs = op.weight_t.shape
    out = _output(call)
    weights = _float_weights(call, features)
    call.text.kernels.add("dense")
    statements = _epilogue(call, op.epilogue, op.post)
    statements.append(
        f"ob_dense({call.arg()}, {features}, {outputs}, {weights}, &e, "
        f"{_out_pointers(call, out)}, {call.scratch_pointer('float')});"
    )
    return out, Emitted(_block(*statements), scratch=4 * outputs)


@EMITTERS.register("conv2d")
def _conv2d(call: Call) -> tuple[CValue, Emitted]:
    op = call.op
    out = _output(call)
    top, _, left, _ = op.padding
    statements = [_geometry(call, call.op_input(0), call.output, op.kernel, op.stride, top, left)]
    weights = _float_weights(call, op.cin // op.groups)
    call.text.kernels.add("conv2d")
    statements += _epilogue(call, op.epilogue, op.post)
    y, patch = call.scratch_pointer("float"), call.scratch_pointer("float", 4 * op.cout)
    statements.append(
        f"ob_conv2d({call.arg()}, &g, {op.cin}, {op.cout}, {op.groups}, {weights}, "
        f"{float_literal(op.pad_value)}, &e, {_out_pointers(call, out)}, {y}, {patch});"
    )
    taps = op.kernel[0] * op.kernel[1]
    return out, Emitted(_block(*statements), scratch=4 * op.cout + 4 * taps * op.cin)


def _pool(kernel: str) -> Emitter:
    def emit(call: Call) -> tuple[CValue, Emitted]:
        op, x = call.op, call.inputs[0]
        out = _output(call)
        ph, pw = op.padding
        statements = [_geometry(call, call.op_input(0), call.output, op.kernel, op.stride, ph, pw)]
        name = kernel
        if x.kind == "bits" and x.form != "packed":  # a twin's max-pool of +-1 values
            name = "maxpool2d" if x.form == "float" else "maxpool2d_s8"
        call.text.kernels.add(name)
        width = x.row_words if x.form == "packed" and x.kind == "bits" else x.channels
        statements.append(
            f"ob_{name}({call.arg()}, &g, {width}, {call.pointer(out.name, out.c_type)});"
        )
        return out, Emitted(_block(*statements))

    return emit


EMITTERS.register("maxpool2d")(_pool("maxpool2d"))
EMITTERS.register("binary_maxpool2d")(_pool("binary_maxpool2d"))
EMITTERS.register("avgpool2d")(_pool("avgpool2d"))


@EMITTERS.register("global_avgpool")
def _global_avgpool(call: Call) -> tuple[CValue, Emitted]:
    h, w, c = call.op_input(0).shape
    out = _float_value(call)
    call.text.kernels.add("global_avgpool")
    statement = f"ob_global_avgpool({call.arg()}, {h * w}, {c}, {call.pointer(out.name, 'float')});"
    return out, Emitted([statement])


@EMITTERS.register("sign_pack")
def _sign_pack(call: Call) -> tuple[CValue, Emitted]:
    x = call.op_input(0)
    pixels, channels = math.prod(x.shape[:-1]), x.shape[-1]
    out = _bits_value(call, pixels, channels)
    o = _out_pointers(call, out)
    if call.op.epilogue == "affine":
        call.text.kernels.add("sign_pack_affine")
        scale = call.text.const("float", "scale", call.index, call.op.scale)
        bias = call.text.const("float", "bias", call.index, call.op.bias)
        statement = (
            f"ob_sign_pack_affine({call.arg()}, {pixels}, {channels}, {scale}, {bias}, {o});"
        )
        return out, Emitted([statement])
    call.text.kernels.add("sign_pack")
    return out, Emitted([f"ob_sign_pack({call.arg()}, {pixels}, {channels}, {o});"])


def _transpose(kernel: str) -> Emitter:
    """A layout change of a float map: the kernel takes the input's three sides in order."""

    def emit(call: Call) -> tuple[CValue, Emitted]:
        sides = ", ".join(map(str, call.op_input(0).shape))
        out = _float_value(call)
        call.text.kernels.add(kernel)
        pointer = call.pointer(out.name, "float")
        return out, Emitted([f"ob_{kernel}({call.arg()}, {sides}, {pointer});"])

    return emit


EMITTERS.register("nchw_to_nhwc")(_transpose("nchw_to_nhwc"))
EMITTERS.register("nhwc_to_nchw")(_transpose("nhwc_to_nchw"))


@EMITTERS.register("flatten")
def _flatten(call: Call) -> tuple[CValue, Emitted]:
    """No code: the flattened value is its input's buffer (the exporter aliases the two)."""
    x = call.inputs[0]
    if x.kind == "bits":
        shape = call.output.shape
        return CValue(call.op.spec["output"], "bits", shape, x.channels, x.rows, x.form), Emitted()
    return _float_value(call), Emitted()


@EMITTERS.register("pad")
def _pad(call: Call) -> tuple[CValue, Emitted]:
    h, w, c = call.op_input(0).shape
    top, bottom, left, right = call.op.padding
    out = _float_value(call)
    call.text.kernels.add("pad")
    return out, Emitted(
        [
            f"ob_pad({call.arg()}, {h}, {w}, {c}, {top}, {bottom}, {left}, {right}, "
            f"{float_literal(call.op.value)}, {call.pointer(out.name, 'float')});"
        ]
    )


@EMITTERS.register("upsample_nearest")
def _upsample_nearest(call: Call) -> tuple[CValue, Emitted]:
    """Whole pixels copied as they are: floats, or signs in any form (packed words stay exact)."""
    h, w, _ = call.op_input(0).shape
    sh, sw = call.op.scale
    out = _output(call)
    pixel_bytes = call.inputs[0].nbytes // (h * w)
    call.text.kernels.add("upsample_nearest")
    pointer = call.pointer(out.name, out.c_type)
    return out, Emitted(
        [f"ob_upsample_nearest({call.arg()}, {h}, {w}, {pixel_bytes}, {sh}, {sw}, {pointer});"]
    )


@EMITTERS.register("channel_shuffle")
def _channel_shuffle(call: Call) -> tuple[CValue, Emitted]:
    """Each pixel's floats (or the vector's) gathered in their shuffled order."""
    shape = call.op_input(0).shape
    rows, channels = math.prod(shape[:-1]), shape[-1]
    out = _float_value(call)
    call.text.kernels.add("channel_shuffle")
    pointer = call.pointer(out.name, "float")
    return out, Emitted(
        [f"ob_channel_shuffle({call.arg()}, {rows}, {channels}, {call.op.groups}, {pointer});"]
    )


def _join_bytes(call: Call, out: CValue, rows: int, widths: Sequence[int]) -> Emitted:
    """One ``ob_concat`` per input: its rows of ``widths[i]`` bytes, side by side in ``out``."""
    call.text.kernels.add("concat")
    pointer = call.pointer(out.name, out.c_type)
    total, at, statements = sum(widths), 0, []
    for i, width in enumerate(widths):
        statements.append(f"ob_concat({call.arg(i)}, {rows}, {width}, {at}, {total}, {pointer});")
        at += width
    return Emitted(statements)


@EMITTERS.register("concat")
def _concat(call: Call) -> tuple[CValue, Emitted]:
    """Float maps joined along their last axis, then the post tail (if any) over the joined map
    in place; its residuals are the inputs after the joined ones."""
    out = _float_value(call)
    rows, channels = math.prod(call.output.shape[:-1]), call.output.shape[-1]
    pieces = len(call.op.channels)
    joined = _join_bytes(call, out, rows, [4 * c for c in call.op.channels])
    if not call.op.post:
        return out, joined
    call.text.kernels.add("elementwise")
    statements, steps, n_steps = _steps(call, call.op.post, call.inputs[pieces:])
    statements.append(f"const ob_epilogue e = {{OB_NONE, 0, 0, 0, 0, {steps}, {n_steps}}};")
    pointer = call.pointer(out.name, "float")
    statements.append(f"ob_elementwise({pointer}, {rows}, {channels}, &e, {pointer});")
    return out, Emitted([*joined.statements, *_block(*statements)])


@EMITTERS.register("binary_concat")
def _binary_concat(call: Call) -> tuple[CValue, Emitted]:
    """Signs joined along their channels: packed rows by ``ob_binary_concat`` (no scratch), the
    twins' float or int8 +-1 rows as bytes."""
    rows, channels = math.prod(call.output.shape[:-1]), call.op.channels
    for i, x in enumerate(call.inputs):
        # the runtime joins a flattened map's 64-bit words as one run of bits: its C rows are
        # that run only where none ends in padding bits
        if x.rows != rows and x.channels % WORD_BITS:
            raise call.fail(
                f"its input #{i} is a flattened map whose rows of {x.channels} signs end in "
                "padding bits: only maps and vectors of signs are joined in C"
            )
    out = _bits_value(call, rows, sum(channels))
    if out.form != "packed":
        size = 1 if out.c_type == "int8_t" else 4
        return out, _join_bytes(call, out, rows, [size * c for c in channels])
    call.text.kernels.add("binary_concat")
    pointer = call.pointer(out.name, "uint32_t")
    statements = []
    for i, n in enumerate(channels):
        at = sum(channels[:i])
        statements.append(
            f"ob_binary_concat({call.arg(i)}, {rows}, {n}, {at}, {out.channels}, {pointer});"
        )
    return out, Emitted(statements)


def _elementwise(call: Call, step: str) -> tuple[CValue, Emitted]:
    x = call.op_input(0)
    channels = x.shape[-1]
    pixels = math.prod(x.shape[:-1])
    out = _float_value(call)
    call.text.kernels.add("elementwise")
    statements = [f"const ob_step steps[1] = {{{{{step}}}}};"]
    statements.append("const ob_epilogue e = {OB_NONE, 0, 0, 0, 0, steps, 1};")
    pointer = call.pointer(out.name, "float")
    statements.append(f"ob_elementwise({call.arg()}, {pixels}, {channels}, &e, {pointer});")
    return out, Emitted(_block(*statements))


@EMITTERS.register("affine")
def _affine(call: Call) -> tuple[CValue, Emitted]:
    scale = call.text.const("float", "scale", call.index, call.op.scale)
    bias = call.text.const("float", "bias", call.index, call.op.bias)
    return _elementwise(call, f"OB_AFFINE, {scale}, {bias}, 0.0f, 0.0f, 0")


@EMITTERS.register("relu")
def _relu(call: Call) -> tuple[CValue, Emitted]:
    return _elementwise(call, "OB_RELU, 0, 0, 0.0f, 0.0f, 0")


@EMITTERS.register("hardtanh")
def _hardtanh(call: Call) -> tuple[CValue, Emitted]:
    low, high = float_literal(call.op.low), float_literal(call.op.high)
    return _elementwise(call, f"OB_HARDTANH, 0, 0, {low}, {high}, 0")


@EMITTERS.register("prelu")
def _prelu(call: Call) -> tuple[CValue, Emitted]:
    channels = call.op_input(0).shape[-1]
    slope = np.broadcast_to(call.op.slope, (channels,))
    name = call.text.const("float", "slope", call.index, slope)
    return _elementwise(call, f"OB_PRELU, {name}, 0, 0.0f, 0.0f, 0")


@EMITTERS.register("add")
def _add(call: Call) -> tuple[CValue, Emitted]:
    return _elementwise(call, f"OB_ADD, 0, 0, 0.0f, 0.0f, {call.arg(1)}")
