"""Lowering a traced PyTorch model to the packed program's ops.

The model is traced with ``torch.fx`` (quantized layers, quantizers and torch.nn layers kept
whole), shapes are propagated with the example input, and each graph node becomes one op of
``onebit.runtime.ops`` in NHWC layout (a model whose output is a feature map gets it back in
torch's NCHW order). A value read by several binary layers is signed once. Rewrites then fold
what they can (``passes.py``):

0. a constant pad (``ZeroPad2d``, ``F.pad``) read only by a float convolution becomes part of its
   padding, which may be asymmetric (``[top, bottom, left, right]``);
1. an affine map (batch norm, learnable shift) right after a layer folds into that layer's
   epilogue;
2. a sign right after a binary layer becomes that layer's bit-packed output through integer
   thresholds (``thresholds.py``), and after a float layer a packed ``sign`` epilogue;
3. a float max-pool followed by a sign becomes a sign followed by a binary max-pool (the sign is
   monotone, so ``sign(max(y)) = max(sign(y))``), and the sign then fuses as in 2.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from onebit import quantizers as q
from onebit.convert.ir import ConversionError, Node, Value
from onebit.nn import (
    LearnableBias,
    QuantConv2d,
    QuantizedLayer,
    QuantLinear,
    ShiftBatchNorm1d,
    ShiftBatchNorm2d,
)
from onebit.runtime.reference import bitpack

SIGN_QUANTIZERS = (q.SteSign, q.ApproxSign, q.SwishSign, q.StochasticSign)


# torch functions the lowering understands, by the name their tensor-method twins have
_TENSOR_FUNCTIONS: dict[Any, str] = {
    operator.add: "add",
    torch.add: "add",
    torch.flatten: "flatten",
    F.relu: "relu",
    torch.relu: "relu",
    torch.cat: "cat",
    torch.concat: "cat",
    torch.concatenate: "cat",
    F.pad: "pad",
    torch.mean: "mean",
    F.adaptive_avg_pool2d: "adaptive_avg_pool2d",
}


class Lowering:
    """Turns a traced module into a list of :class:`Node` and the values between them."""

    def __init__(self, module: fx.GraphModule) -> None:
        self.module = module
        self.nodes: list[Node] = []
        self.values: dict[str, Value] = {}
        self._by_fx: dict[str, Value] = {}
        self.input: Value | None = None
        self.output: Value | None = None
        self._flattened: dict[str, Value] = {}  # flat value -> the map it flattens
        self._signs: dict[str, Value] = {}  # float value -> its packed signs

    # -- values ------------------------------------------------------------------------------
    def new_value(self, kind: str, shape: tuple[int, ...], torch_shape: tuple[int, ...]) -> Value:
        value = Value(f"v{len(self.values)}", kind, tuple(shape), tuple(torch_shape))
        self.values[value.name] = value
        return value

    def emit(self, node_type: str, inputs: list[Value], output: Value, **fields: Any) -> Node:
        node = Node(node_type, [v.name for v in inputs], output.name, **fields)
        self.nodes.append(node)
        return node

    def float_like(self, value: Value, shape=None, torch_shape=None) -> Value:
        """A new float value; of ``value``'s shape it also keeps the (C, H, W) order of a
        flattened map, so a Linear after an elementwise op still reorders its columns."""
        out = self.new_value(
            "float",
            value.shape if shape is None else shape,
            value.torch_shape if torch_shape is None else torch_shape,
        )
        if shape is None:
            out.flat_from = value.flat_from
        return out

    def as_bits(self, value: Value) -> Value:
        """The packed signs of ``value``. A flattened map is signed before the flatten, so each
        pixel keeps its own words and the sign can fuse into the layer that made the map."""
        if value.kind == "bits":
            return value
        if value.name in self._signs:  # one sign for every binary layer that reads the value
            return self._signs[value.name]
        source = self._flattened.get(value.name)
        if source is not None:
            out = self._flatten_value(self.as_bits(source))
        elif value.flat_from is not None:
            raise ConversionError(
                "a sign of a flattened map after an elementwise op (e.g. Flatten -> Hardtanh -> "
                "binary Linear) is not supported; put the activation before the Flatten"
            )
        else:
            out = self.new_value("bits", value.shape, value.torch_shape)
            self.emit("sign_pack", [value], out)
        self._signs[value.name] = out
        return out

    def as_float(self, value: Value, where: str) -> Value:
        if value.kind != "float":
            raise ConversionError(f"{where} needs a float input but gets packed bits")
        return value

    # -- the walk ----------------------------------------------------------------------------
    def run(self) -> None:
        for node in self.module.graph.nodes:
            if node.op == "placeholder":
                self._input(node)
            elif node.op == "output":
                self.output = self._arg(node.args[0], "the model output")
            elif node.op == "call_module":
                self._module(node, self.module.get_submodule(node.target))
            elif node.op == "call_function":
                self._function(node)
            elif node.op == "call_method":
                self._method(node)
            else:
                raise ConversionError(f"unsupported graph node {node.op} {node.target}")
        if self.output is None or self.output.kind != "float":
            raise ConversionError("the model's output must be a float tensor")
        self._output_in_torch_layout()

    def _output_in_torch_layout(self) -> None:
        """A model whose output is a feature map (or a flattened one) gets it in NCHW order."""
        output = self.output
        source = self._flattened.get(output.name)
        grid = output if source is None else source
        if len(grid.shape) != 3:
            return
        nchw = self.new_value("float", grid.torch_shape, grid.torch_shape)
        self.emit("nhwc_to_nchw", [grid], nchw)
        if source is not None:
            flat = self.new_value("float", output.shape, output.torch_shape)
            self.emit("flatten", [nchw], flat)
            nchw = flat
        self.output = nchw

    def _arg(self, arg: Any, where: str) -> Value:
        if isinstance(arg, fx.Node) and arg.name in self._by_fx:
            return self._by_fx[arg.name]
        raise ConversionError(f"{where}: unsupported argument {arg!r}")

    def _shape(self, node: fx.Node) -> tuple[int, ...]:
        meta = node.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape"):
            raise ConversionError(f"node {node.name} does not produce one tensor")
        return tuple(meta.shape[1:])

    def _bind(self, node: fx.Node, value: Value) -> None:
        self._by_fx[node.name] = value

    def _input(self, node: fx.Node) -> None:
        torch_shape = self._shape(node)
        value = self.new_value("float", torch_shape, torch_shape)
        self.input = value
        if len(torch_shape) == 3:
            c, h, w = torch_shape
            out = self.new_value("float", (h, w, c), torch_shape)
            self.emit("nchw_to_nhwc", [value], out)
            value = out
        elif len(torch_shape) != 1:
            raise ConversionError(f"inputs must be (C, H, W) images or (F,) vectors: {torch_shape}")
        self._bind(node, value)

    # -- modules -----------------------------------------------------------------------------
    def _module(self, node: fx.Node, module: nn.Module) -> None:
        where = f"layer {node.target!r} ({type(module).__name__})"
        x = self._arg(node.args[0], where)
        out_shape = self._shape(node)
        if isinstance(module, QuantLinear | nn.Linear):
            value = self._linear(x, module, where)
        elif isinstance(module, QuantConv2d | nn.Conv2d):
            value = self._conv(x, module, out_shape, where)
        elif isinstance(module, ShiftBatchNorm1d | ShiftBatchNorm2d):
            value = self._shift_batch_norm(x, module, where)
        elif isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            value = self._batch_norm(x, module, where)
        elif isinstance(module, LearnableBias):
            bias = module.bias.detach().double().numpy()
            value = self._affine(x, np.ones_like(bias), bias, module, where)
        elif isinstance(module, q.Quantizer):
            value = self._quantizer(x, module, where)
        elif isinstance(module, nn.Dropout | nn.Identity):
            value = x
        elif isinstance(module, nn.Flatten):
            value = self._flatten(x, module.start_dim, module.end_dim, where)
        elif isinstance(module, nn.ReLU):
            value = self._relu(x, where)
        elif isinstance(module, nn.Hardtanh):
            value = self.float_like(self.as_float(x, where))
            self.emit("hardtanh", [x], value, attrs={"min": module.min_val, "max": module.max_val})
        elif isinstance(module, nn.PReLU):
            value = self.float_like(self.as_float(x, where))
            slope = module.weight.detach().float().numpy()
            if slope.size > 1:
                slope = np.ascontiguousarray(_runtime_feature_order(slope, x))
            self.emit("prelu", [x], value, arrays={"slope": slope})
        elif isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
            value = self._pool(x, module, out_shape, where)
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            value = self._global_avgpool(x, out_shape, where)
        elif isinstance(module, nn.ZeroPad2d | nn.ConstantPad2d):
            value = self._pad(x, module.padding, module.value, out_shape, where)
        else:
            raise ConversionError(f"{where} cannot be converted to the packed engine")
        self._bind(node, value)

    def _weight(self, layer: nn.Module, where: str) -> tuple[str, torch.Tensor, np.ndarray]:
        """("binary" | "float", weight values, per-channel scale)."""
        weight = layer.weight.detach()
        scale = torch.ones(weight.shape[0], dtype=torch.float64)
        quantizer = getattr(layer, "weight_quantizer", None)
        if quantizer is None or isinstance(quantizer, q.Identity):
            mode = "float"
        elif isinstance(quantizer, SIGN_QUANTIZERS):
            mode = "binary"
        elif isinstance(quantizer, q.MagnitudeAwareSign):
            mode = "binary"
            scale = scale * weight.double().abs().mean(dim=tuple(range(1, weight.ndim)))
        else:
            raise ConversionError(f"{where}: weight quantizer {quantizer.name!r} is not 1-bit")
        if getattr(layer, "alpha_scaling", False):
            scale = scale * layer.alpha().detach().double().flatten()
        values = torch.where(weight >= 0, 1.0, -1.0) if mode == "binary" else weight.float()
        return mode, values, scale.numpy()

    def _input_quantized(self, layer: nn.Module, x: Value, where: str) -> Value:
        """The layer's input: packed after a sign quantizer; as it comes without one (a map
        binarized before the layer, e.g. by ReActNet's RSign, stays packed)."""
        quantizer = getattr(layer, "input_quantizer", None)
        if quantizer is None or isinstance(quantizer, q.Identity):
            return x
        if isinstance(quantizer, SIGN_QUANTIZERS):
            return self.as_bits(x)
        raise ConversionError(f"{where}: input quantizer {quantizer.name!r} is not 1-bit")

    def _layer_chain(self, layer: nn.Module, scale: np.ndarray):
        """The float map acc -> layer output, with the layer's own float32 scale and bias."""
        if (
            isinstance(layer, QuantizedLayer)
            and layer.alpha_scaling
            and np.all(scale == layer.alpha().detach().double().flatten().numpy())
        ):
            alpha = layer.alpha().detach().flatten()
        elif np.all(scale == 1.0):
            alpha = None
        else:
            alpha = torch.from_numpy(scale).float()
        bias = None if layer.bias is None else layer.bias.detach()

        def chain(t: torch.Tensor) -> torch.Tensor:
            if alpha is not None:
                t = t * alpha
            return t if bias is None else t + bias

        return chain

    def _linear(self, x: Value, layer: nn.Linear, where: str) -> Value:
        x = self._input_quantized(layer, x, where)
        if len(x.shape) != 1:
            raise ConversionError(f"{where}: a linear layer needs a flattened input")
        mode, weight, scale = self._weight(layer, where)
        bias = (
            np.zeros(layer.out_features)
            if layer.bias is None
            else layer.bias.detach().double().numpy()
        )
        weight = self._columns_as_runtime(weight, x)
        out = self.new_value("float", (layer.out_features,), (layer.out_features,))
        chain = [self._layer_chain(layer, scale)]
        if x.kind == "bits":
            if mode != "binary":
                raise ConversionError(f"{where}: binary inputs need binary weights")
            packed = bitpack(weight.numpy()).reshape(layer.out_features, -1)
            self.emit(
                "binary_dense",
                [x],
                out,
                attrs={"k": layer.in_features},
                arrays={"weight": packed},
                accumulator="int",
                scale=scale,
                bias=bias,
                chain=chain,
                k=layer.in_features,
            )
        else:
            attrs = {"in_features": layer.in_features, "out_features": layer.out_features}
            arrays = self._float_op_weights(mode, weight, layer.out_features)
            self.emit(
                "dense",
                [x],
                out,
                attrs=attrs,
                arrays=arrays,
                accumulator="float",
                scale=scale,
                bias=bias,
                chain=chain,
            )
        return out

    def _columns_as_runtime(self, weight: torch.Tensor, x: Value) -> torch.Tensor:
        """Reorder a linear weight's columns from torch's (C, H, W) flatten to ours (H, W, C);
        for a packed input, each pixel keeps its own words: (Cout, H, W, C)."""
        if x.flat_from is None:
            return weight
        c, h, w = x.flat_from
        grid = weight.reshape(weight.shape[0], c, h, w).permute(0, 2, 3, 1)
        return grid if x.kind == "bits" else grid.reshape(weight.shape[0], -1)

    def _float_op_weights(self, mode: str, weight: torch.Tensor, cout: int) -> dict:
        if mode == "binary":
            return {"weight_bits": bitpack(weight.numpy()).reshape(cout, *weight.shape[1:-1], -1)}
        return {"weight": np.ascontiguousarray(weight.numpy(), dtype=np.float32)}

    def _conv(self, x: Value, layer: nn.Conv2d, out_shape, where: str) -> Value:
        """A convolution: ``binary_conv2d`` on packed inputs (groups 1, symmetric padding), else
        a float ``conv2d`` (any groups, any zero padding)."""
        if layer.dilation != (1, 1):
            raise ConversionError(f"{where}: only dilation=1 convolutions are supported")
        left, right, top, bottom = layer._reversed_padding_repeated_twice
        if layer.padding_mode != "zeros" and any((left, right, top, bottom)):
            raise ConversionError(f"{where}: padding_mode {layer.padding_mode!r} unsupported")
        padding = padding_attr(top, bottom, left, right)
        pad_value = float(getattr(layer, "pad_value", 0.0))
        x = self._input_quantized(layer, x, where)
        if len(x.shape) != 3:
            raise ConversionError(f"{where}: a convolution needs an image input")
        mode, weight, scale = self._weight(layer, where)
        weight = weight.permute(0, 2, 3, 1)  # (Cout, KH, KW, Cin / groups)
        cout, h, w = out_shape
        bias = np.zeros(cout) if layer.bias is None else layer.bias.detach().double().numpy()
        out = self.new_value("float", (h, w, cout), out_shape)
        chain = [self._layer_chain(layer, scale)]
        common = {"stride": list(layer.stride), "padding": padding, "pad_value": pad_value}
        if x.kind == "bits":
            if layer.groups != 1:
                raise ConversionError(
                    f"{where}: groups={layer.groups} is only supported on float inputs, "
                    "not on binarized ones"
                )
            if len(padding) != 2:
                raise ConversionError(
                    f"{where}: asymmetric padding {padding} is only supported on float inputs"
                )
            if mode != "binary":
                raise ConversionError(f"{where}: binary inputs need binary weights")
            k = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1]
            self.emit(
                "binary_conv2d",
                [x],
                out,
                attrs={"cin": layer.in_channels, **common},
                arrays={"weight": bitpack(weight.numpy())},
                accumulator="int",
                scale=scale,
                bias=bias,
                chain=chain,
                k=k,
            )
        else:
            attrs = {
                "cin": layer.in_channels,
                "cout": cout,
                "kernel": list(layer.kernel_size),
                "groups": layer.groups,
                **common,
            }
            self.emit(
                "conv2d",
                [x],
                out,
                attrs=attrs,
                arrays=self._float_op_weights(mode, weight, cout),
                accumulator="float",
                scale=scale,
                bias=bias,
                chain=chain,
            )
        return out

    def _batch_norm(self, x: Value, bn: nn.modules.batchnorm._BatchNorm, where: str) -> Value:
        if not bn.track_running_stats or bn.running_mean is None:
            raise ConversionError(f"{where}: batch norm without running statistics")
        inv_std = 1.0 / torch.sqrt(bn.running_var.double() + bn.eps)
        gamma = bn.weight.detach().double() if bn.affine else torch.ones_like(inv_std)
        beta = bn.bias.detach().double() if bn.affine else torch.zeros_like(inv_std)
        s = (gamma * inv_std).numpy()
        t = (beta - bn.running_mean.double() * gamma * inv_std).numpy()
        return self._affine(x, s, t, bn, where)

    def _shift_batch_norm(self, x: Value, bn: nn.Module, where: str) -> Value:
        if bn.running_mean is None:
            raise ConversionError(f"{where}: batch norm without running statistics")
        scale, shift = bn.folded()
        return self._affine(x, scale.double().numpy(), shift.double().numpy(), bn, where)

    def _affine(self, x: Value, s: np.ndarray, t: np.ndarray, module: nn.Module, where: str):
        x = self.as_float(x, where)
        s, t = _runtime_feature_order(s, x), _runtime_feature_order(t, x)
        out = self.float_like(x)
        if isinstance(module, nn.BatchNorm2d | ShiftBatchNorm2d):
            chain = lambda v: module(v[:, :, None, None])[:, :, 0, 0]  # noqa: E731
        else:
            chain = module
        self.emit(
            "affine", [x], out, attrs={"channels": x.channels}, scale=s, bias=t, chain=[chain]
        )
        return out

    def _quantizer(self, x: Value, quantizer: q.Quantizer, where: str) -> Value:
        if isinstance(quantizer, q.Identity):
            return x
        if isinstance(quantizer, SIGN_QUANTIZERS):
            return self.as_bits(x)
        raise ConversionError(f"{where}: quantizer {quantizer.name!r} is not 1-bit")

    def _flatten(self, x: Value, start: int, end: int, where: str) -> Value:
        if start != 1 or end != -1:
            raise ConversionError(f"{where}: only flatten(start_dim=1) is supported")
        if len(x.shape) == 1:
            return x
        return self._flatten_value(x)

    def _flatten_value(self, x: Value) -> Value:
        size = int(np.prod(x.torch_shape))
        out = self.new_value(x.kind, (size,), (size,))
        out.flat_from = x.torch_shape
        self._flattened[out.name] = x
        self.emit("flatten", [x], out)
        return out

    def _pool(self, x: Value, module: nn.Module, out_shape, where: str) -> Value:
        kernel, stride, padding = (
            _pair(getattr(module, n)) for n in ("kernel_size", "stride", "padding")
        )
        if isinstance(module, nn.MaxPool2d) and (
            module.dilation not in (1, (1, 1)) or module.ceil_mode
        ):
            raise ConversionError(f"{where}: dilation and ceil_mode are not supported")
        if isinstance(module, nn.AvgPool2d) and (
            module.ceil_mode or not module.count_include_pad or module.divisor_override
        ):
            raise ConversionError(f"{where}: only the default average pool is supported")
        c, h, w = out_shape
        kind = "avgpool2d" if isinstance(module, nn.AvgPool2d) else "maxpool2d"
        if kind == "maxpool2d" and x.kind == "bits":
            kind = "binary_maxpool2d"
        elif x.kind == "bits":
            raise ConversionError(f"{where}: average pooling needs a float input")
        out = self.new_value(x.kind, (h, w, c), out_shape)
        self.emit(kind, [x], out, attrs={"kernel": kernel, "stride": stride, "padding": padding})
        return out

    def _global_avgpool(self, x: Value, out_shape, where: str) -> Value:
        """Mean over height and width; a (C, 1, 1) result is kept as a (C,) vector."""
        if len(x.shape) != 3 or tuple(out_shape[1:]) not in ((), (1, 1)):
            raise ConversionError(f"{where}: only a global average (output size 1) is supported")
        value = self.new_value("float", (x.channels,), out_shape)
        self.emit("global_avgpool", [self.as_float(x, where)], value)
        return value

    def _pad(self, x: Value, pad: Any, value: Any, out_shape, where: str) -> Value:
        """Constant padding of height and width; torch orders it ``(left, right, top, bottom)``."""
        pad = [int(p) for p in pad]
        if len(pad) == 2:
            pad += [0, 0]
        if len(pad) != 4 or min(pad) < 0 or len(x.shape) != 3:
            raise ConversionError(
                f"{where}: only non-negative padding of an image's height and width is supported"
            )
        left, right, top, bottom = pad
        c, h, w = out_shape
        out = self.new_value("float", (h, w, c), out_shape)
        attrs = {"padding": [top, bottom, left, right], "value": float(value or 0.0)}
        self.emit("pad", [self.as_float(x, where)], out, attrs=attrs)
        return out

    def _cat(self, tensors: Any, dim: Any, out_shape, where: str) -> Value:
        """``torch.cat(tensors, dim=1)``: a ``concat`` of float values, or a ``binary_concat`` of
        packed ones (exact for any channel counts, see ``runtime/ops.py``)."""
        if not isinstance(tensors, list | tuple) or not tensors:
            raise ConversionError(f"{where}: needs a list of tensors")
        values = [self._arg(t, where) for t in tensors]
        if not isinstance(dim, int) or dim % (len(out_shape) + 1) != 1:
            raise ConversionError(f"{where}: only concatenation along the channels (dim=1) works")
        if len(values) == 1:
            return values[0]
        if any(v.flat_from is not None for v in values):
            raise ConversionError(f"{where}: join the feature maps before flattening them")
        kinds = {v.kind for v in values}
        if len(kinds) != 1:
            raise ConversionError(f"{where}: cannot join packed bits with float values")
        channels = [v.channels for v in values]
        out = self.new_value(values[0].kind, (*values[0].shape[:-1], sum(channels)), out_shape)
        kind = "binary_concat" if kinds == {"bits"} else "concat"
        self.emit(kind, values, out, attrs={"channels": channels})
        return out

    # -- functions and methods ---------------------------------------------------------------

    def _function(self, node: fx.Node) -> None:
        name = getattr(node.target, "__name__", str(node.target))
        self._call(node, _TENSOR_FUNCTIONS.get(node.target), f"operation {node.name!r} ({name})")

    def _method(self, node: fx.Node) -> None:
        self._call(node, node.target, f"method {node.target!r} in {node.name!r}")

    def _call(self, node: fx.Node, name: str | None, where: str) -> None:
        """A tensor function or method, ``torch.add(a, b)`` and ``a.add(b)`` alike."""
        if name == "add" and len(node.args) == 2 and not node.kwargs:
            a, b = (self.as_float(self._arg(arg, where), where) for arg in node.args)
            out = self.float_like(a)
            self.emit("add", [a, b], out)
        elif name == "flatten":
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            out = self._flatten(self._arg(node.args[0], where), start, -1, where)
        elif name == "relu":
            out = self._relu(self._arg(node.args[0], where), where)
        elif name == "cat":
            args = _call_args(node, ["tensors", "dim"], {"dim": 0})
            out = self._cat(args["tensors"], args["dim"], self._shape(node), where)
        elif name == "pad":
            args = _call_args(node, ["input", "pad", "mode", "value"], {"mode": "constant"})
            if args["mode"] != "constant":
                raise ConversionError(f"{where}: only constant padding is supported")
            x = self._arg(args["input"], where)
            out = self._pad(x, args["pad"], args.get("value"), self._shape(node), where)
        elif name == "mean":
            args = _call_args(node, ["input", "dim", "keepdim"], {"dim": None, "keepdim": False})
            x = self._arg(args["input"], where)
            dims = args["dim"] if isinstance(args["dim"], list | tuple) else [args["dim"]]
            if len(x.torch_shape) != 3 or sorted(d % 4 for d in dims if d is not None) != [2, 3]:
                raise ConversionError(f"{where}: only the mean over height and width is supported")
            out = self._global_avgpool(x, self._shape(node), where)
        elif name == "adaptive_avg_pool2d":
            args = _call_args(node, ["input", "output_size"], {})
            x = self._arg(args["input"], where)
            out = self._global_avgpool(x, self._shape(node), where)
        else:
            raise ConversionError(f"{where} cannot be converted to the packed engine")
        self._bind(node, out)

    def _relu(self, x: Value, where: str) -> Value:
        out = self.float_like(self.as_float(x, where))
        self.emit("relu", [x], out)
        return out


def _call_args(node: fx.Node, names: list[str], defaults: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments by name, positional or keyword."""
    args = {**defaults, **dict(zip(names, node.args, strict=False)), **node.kwargs}
    missing = [name for name in names if name not in args]
    if missing:
        raise ConversionError(f"{node.name}: argument {missing[0]!r} is missing")
    return args


def padding_attr(top: int, bottom: int, left: int, right: int) -> list[int]:
    """A conv's ``padding`` attr: ``[ph, pw]`` if symmetric, else ``[top, bottom, left, right]``."""
    if top == bottom and left == right:
        return [top, left]
    return [top, bottom, left, right]


def _pair(value: Any) -> list[int]:
    if value is None:
        raise ConversionError("pooling without a stride is not supported")
    return [int(value), int(value)] if isinstance(value, int) else [int(v) for v in value]


def _runtime_feature_order(vector: np.ndarray, x: Value) -> np.ndarray:
    """A per-feature vector of a flattened map, from torch's (C, H, W) order to the runtime's
    (H, W, C); of any other value, as it is."""
    if x.flat_from is None:
        return vector
    c, h, w = x.flat_from
    return np.asarray(vector).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
