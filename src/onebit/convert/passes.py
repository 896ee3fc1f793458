"""Rewrites of the lowered node list that make a program binary end to end (see ``lower.py``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import torch

from onebit.convert.ir import ConversionError, Node
from onebit.convert.lower import Lowering
from onebit.convert.thresholds import fold_thresholds
from onebit.runtime.window import padding_attr


def _compose(chain: list[Callable[[torch.Tensor], torch.Tensor]]):
    def composed(t: torch.Tensor) -> torch.Tensor:
        for step in chain:
            t = step(t)
        return t

    return composed


# ops whose float output can carry a post tail (a float concat too: its residual adds then join
# it in one pass), and the ops that tail can hold
TAIL_PRODUCERS = ("binary_conv2d", "binary_dense", "conv2d", "dense", "concat")
TAIL_STEPS = ("relu", "affine", "prelu", "hardtanh", "add")


class Rewriter:
    """Applies the folding rewrites to a :class:`Lowering`'s nodes in place."""

    def __init__(self, lowering: Lowering) -> None:
        self.lowering = lowering
        self.nodes = lowering.nodes
        self.output = lowering.output.name

    def _uses(self) -> Counter[str]:
        uses = Counter(name for node in self.nodes for name in node.inputs)
        uses[self.output] += 1
        return uses

    def _producer(self, name: str) -> Node | None:
        return next((node for node in self.nodes if node.output == name), None)

    def _sole_use(self, name: str) -> bool:
        return self._uses()[name] == 1 and name != self.output

    def fold_pads(self) -> None:
        """A constant pad read only by a float convolution becomes part of the conv's padding
        (torch's ``ZeroPad2d`` before a conv, as ports of Keras' "same" padding do)."""
        for pad in [node for node in self.nodes if node.type == "pad"]:
            if not self._sole_use(pad.output):
                continue
            conv = next(node for node in self.nodes if pad.output in node.inputs)
            if conv.type != "conv2d":
                continue
            own = conv.attrs["padding"]
            own = own if len(own) == 4 else [own[0], own[0], own[1], own[1]]
            if any(own) and conv.attrs["pad_value"] != pad.attrs["value"]:
                continue
            conv.attrs["padding"] = padding_attr(
                *(a + b for a, b in zip(own, pad.attrs["padding"], strict=True))
            )
            conv.attrs["pad_value"] = pad.attrs["value"]
            conv.inputs = list(pad.inputs)
            self.nodes.remove(pad)

    def fold_affines(self) -> None:
        """An affine map right after a layer becomes part of that layer's epilogue."""
        for node in list(self.nodes):
            if node.type != "affine":
                continue
            producer = self._producer(node.inputs[0])
            if (
                producer is None
                or producer.accumulator is None
                or "epilogue" in producer.attrs
                or not self._sole_use(producer.output)
            ):
                continue
            with np.errstate(all="ignore"):  # an overflow is refused where it is used
                producer.scale = producer.scale * node.scale
                producer.bias = producer.bias * node.scale + node.bias
            producer.chain = producer.chain + node.chain
            producer.output = node.output
            self.nodes.remove(node)

    def fuse_signs(self) -> None:
        """A sign after a layer becomes its packed output; after a max-pool it moves before it;
        an affine map before it (a batch norm) becomes its epilogue."""
        for node in list(self.nodes):
            if node.type == "sign_pack" and node in self.nodes:
                self._fuse_sign(node)

    def _fuse_sign(self, sign: Node) -> None:
        source = sign.inputs[0]
        producer = self._producer(source)
        if producer is None or not self._sole_use(source):
            return
        if producer.accumulator == "int" and "epilogue" not in producer.attrs:
            try:
                threshold, flip = fold_thresholds(
                    _compose(producer.chain), producer.scale, producer.bias, producer.k
                )
            except ConversionError as error:
                raise ConversionError(f"{producer.where}: {error}") from None
            producer.attrs["epilogue"] = "bits"
            producer.arrays.update(threshold=threshold, flip=flip)
        elif producer.accumulator == "float" and "epilogue" not in producer.attrs:
            producer.attrs["epilogue"] = "sign"
            producer.arrays.update(_float_affine(producer))
        elif producer.type == "affine":
            # x -> affine -> sign, x also read elsewhere (else the affine had folded into x's
            # layer): the sign computes the affine map itself, a tile at a time.
            sign.inputs = list(producer.inputs)
            sign.attrs["epilogue"] = "affine"
            sign.arrays.update(_float_affine(producer))
            self.nodes.remove(producer)
            return
        elif producer.type == "maxpool2d" and self._sole_use(producer.inputs[0]):
            # y -> maxpool -> m -> sign -> s   becomes   y -> sign -> s' -> binary maxpool -> s
            y = self.lowering.values[producer.inputs[0]]
            moved = self.lowering.new_value("bits", y.shape, y.torch_shape, y.layout)
            final = sign.output
            sign.inputs, sign.output = [y.name], moved.name
            producer.type, producer.inputs, producer.output = (
                "binary_maxpool2d",
                [moved.name],
                final,
            )
            self.nodes.remove(sign)
            self.nodes.insert(self.nodes.index(producer), sign)
            self._fuse_sign(sign)
            return
        else:
            return
        producer.output = sign.output
        self.nodes.remove(sign)

    def finalize(self) -> None:
        """Give every layer not fused into bits its float epilogue; drop unused nodes."""
        for node in self.nodes:
            if node.accumulator == "int" and "epilogue" not in node.attrs:
                node.attrs["epilogue"] = "float"
                node.arrays.update(_float_affine(node))
            elif node.accumulator == "float" and "epilogue" not in node.attrs:
                trivial = np.all(node.scale == 1.0) and np.all(node.bias == 0.0)
                node.attrs["epilogue"] = "none" if trivial else "affine"
                if not trivial:
                    node.arrays.update(_float_affine(node))
            elif node.type == "affine":
                node.arrays.update(_float_affine(node))
        self.prune()

    def fuse_tails(self) -> None:
        """Elementwise ops after a float-output layer or a float concat (a ReLU, a batch norm
        after that ReLU, a PReLU, a residual add...) become its ``post`` tail, which its kernel
        runs on each output tile while it is in cache instead of one pass over the map per op.
        A concat's residuals follow the maps it joins in its inputs (its ``channels`` counts
        those).

        Layers go first, concats last: a layer's kernel is bound by its arithmetic, so the
        residual of an add in its tail is read in the arithmetic's shadow, where a concat (bound
        by memory) pays for every map it reads. A concat takes the adds no layer could (the
        hourglass block's ``cat([a, b, c]) + x`` with an identity shortcut); with a projection
        shortcut, that convolution's tail adds the concat."""
        for node in sorted(self.nodes, key=lambda node: node.type == "concat"):
            if node in self.nodes and self._takes_tail(node):
                while self._absorb_next(node):
                    pass

    def _takes_tail(self, node: Node) -> bool:
        if node.type not in TAIL_PRODUCERS:
            return False
        if node.type == "concat":
            return self.lowering.values[node.output].kind == "float"
        return node.attrs.get("epilogue") in ("float", "affine", "none")

    def _absorb_next(self, node: Node) -> bool:
        if not self._sole_use(node.output):
            return False
        consumer = next(n for n in self.nodes if node.output in n.inputs)
        if consumer.type not in TAIL_STEPS:
            return False
        post = node.attrs.setdefault("post", [])
        index, channels = len(post), self.lowering.values[node.output].channels
        entry: dict = {"step": consumer.type}
        if consumer.type == "add":
            others = [name for name in consumer.inputs if name != node.output]
            if len(others) != 1:  # x + x
                if not post:
                    node.attrs.pop("post")
                return False
            node.inputs.append(others[0])
        elif consumer.type == "affine":
            node.arrays[f"post{index}_scale"] = consumer.arrays["scale"]
            node.arrays[f"post{index}_bias"] = consumer.arrays["bias"]
        elif consumer.type == "prelu":
            slope = consumer.arrays["slope"]
            node.arrays[f"post{index}_slope"] = np.broadcast_to(slope, (channels,)).copy()
        elif consumer.type == "hardtanh":
            entry.update(min=consumer.attrs["min"], max=consumer.attrs["max"])
        post.append(entry)
        node.output = consumer.output
        self.nodes.remove(node)
        self.nodes.insert(self.nodes.index(consumer), node)
        self.nodes.remove(consumer)
        return True

    def prune(self) -> None:
        """Drop nodes whose output nothing reads (e.g. a float flatten replaced by a packed one)."""
        while True:
            uses = self._uses()
            dead = [node for node in self.nodes if uses[node.output] == 0]
            if not dead:
                return
            for node in dead:
                self.nodes.remove(node)


def _float_affine(node: Node) -> dict[str, np.ndarray]:
    with np.errstate(all="ignore"):
        scale, bias = node.scale.astype(np.float32), node.bias.astype(np.float32)
    if not (np.isfinite(scale).all() and np.isfinite(bias).all()):
        raise ConversionError(f"{node.where}: its folded scale or shift overflows float32")
    return {"scale": scale, "bias": bias}
