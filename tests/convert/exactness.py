"""Sign-by-sign comparison of a converted program with its PyTorch model: every binarized
activation of the program against the sign of the value PyTorch binarizes there."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from onebit.quantizers import ApproxSign, SteSign, StochasticSign, SwishSign
from onebit.runtime.reference import bitpack, unpack
from onebit.runtime.reference_program import ReferenceProgram

SIGNS = (SteSign, ApproxSign, SwishSign, StochasticSign)


def smooth_images(count: int, size: int, seed: int) -> torch.Tensor:
    """Deterministic natural-looking images: coarse random colour fields upsampled smoothly, with
    a little fine-grained texture, normalized like ImageNet inputs."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(count, 3, 7, 7, generator=generator)
    images = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    images = images + 0.05 * torch.randn(count, 3, size, size, generator=generator)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    return ((images.clamp(0, 1) - mean) / std).contiguous()


def trained_like(model: nn.Module, images: torch.Tensor, seed: int) -> nn.Module:
    """Batch-norm statistics measured on ``images`` (momentum None: their plain average) under
    random affine parameters of a trained network's scale, then eval mode."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
            if module.affine:
                with torch.no_grad():
                    n = module.num_features
                    module.weight.copy_(1.0 + 0.25 * torch.randn(n, generator=generator))
                    module.bias.copy_(0.2 * torch.randn(n, generator=generator))
    model.train()
    with torch.no_grad():
        for batch in images.split(4):
            model(batch)
    return model.eval()


@dataclass
class SignLayer:
    """One binarized activation: where the program makes it and how it compares with torch."""

    op_type: str
    epilogue: str | None
    bits: int = 0
    differ: int = 0
    near: list[float] = field(default_factory=list)  # |pre-activation| / scale at each miss
    margin: float = np.inf  # the smallest |pre-activation| / scale: how close a bit came to 0
    drift: float = 0.0  # sign_pack: the largest |program value - torch value| / scale


def compare_signs(model: nn.Module, program, x: torch.Tensor, teacher: bool = True):
    """Run ``program`` op by op (as ``Program.__call__`` does) next to ``model`` on ``x``.

    Each op that binarizes (``sign_pack``, a ``bits`` or ``sign`` epilogue) is paired, in order,
    with the sign quantizer call it implements in the model. Returns the per-layer comparison and
    the program's output. With ``teacher``, each program sign map is replaced by torch's after
    the comparison, so a differing bit does not spread into the layers after it.
    """
    inputs: list[torch.Tensor] = []
    weight_signs = {id(getattr(m, "weight_quantizer", None)) for m in model.modules()}
    hooks = [
        m.register_forward_hook(lambda m, args, out: inputs.append(args[0].detach().clone()))
        for m in model.modules()
        if isinstance(m, SIGNS) and id(m) not in weight_signs
    ]
    try:
        with torch.no_grad():
            logits = model(x).numpy()
    finally:
        for hook in hooks:
            hook.remove()
    program = ReferenceProgram(program.graph, program.tensors)  # its ops run one at a time
    values = {program.input_name: np.ascontiguousarray(x.numpy(), dtype=np.float32)}
    layers: list[SignLayer] = []
    # a sign moved before a max-pool (sign o max = max o sign) is compared after the pool
    pooled = {op.spec["inputs"][0] for op in program.ops if op.type == "binary_maxpool2d"}
    epilogues = {op.spec["output"]: op.attrs.get("epilogue") for op in program.ops}
    for op in program.ops:
        out = op(*(values[name] for name in op.spec["inputs"]))
        epilogue = op.attrs.get("epilogue")
        signs = op.type == "sign_pack" or epilogue in ("bits", "sign")
        if (signs and op.spec["output"] not in pooled) or (
            op.type == "binary_maxpool2d" and op.spec["inputs"][0] in pooled
        ):
            pre = inputs[len(layers)]
            if pre.ndim == 2 and out.ndim == 4:  # signed before the flatten: per pixel
                h, w = out.shape[1:3]
                pre = pre.reshape(len(pre), -1, h, w)
            pre = pre.permute(0, 2, 3, 1) if pre.ndim == 4 else pre  # NHWC as the program
            pre = np.ascontiguousarray(pre.numpy())
            channels = pre.shape[-1]
            assert out.shape == bitpack(pre).shape, (op.type, out.shape, pre.shape)
            got = unpack(out, channels)
            want = np.where(pre >= 0, 1, -1).astype(got.dtype)
            miss = got != want
            if op.type == "binary_maxpool2d":  # the layer whose sign it pools
                epilogue = epilogues[op.spec["inputs"][0]]
            layer = SignLayer(op.type, epilogue, bits=miss.size, differ=int(miss.sum()))
            scale = float(np.abs(pre).mean()) or 1.0
            layer.near = (np.abs(pre[miss]) / scale).tolist()
            layer.margin = float(np.abs(pre).min()) / scale
            if op.type == "sign_pack":
                source = values[op.spec["inputs"][0]]
                layer.drift = float(np.abs(source - pre).max()) / scale
            layers.append(layer)
            if teacher:
                out = bitpack(pre)
        values[op.spec["output"]] = out
    assert len(layers) == len(inputs), "every sign of the model has one in the program"
    return layers, values[program.output_name], logits


def measure(names=("quicknet", "birealnet18"), seeds=range(5), images: int = 2) -> None:
    """Print the rate of differing signs (teacher-forced) and the end-to-end effect, per model:
    ``python tests/convert/exactness.py`` remakes the figures in ``test_exactness.py``."""
    from onebit import models
    from onebit.convert import convert

    for name in names:
        bits = differ = 0
        near: list[float] = []
        for seed in seeds:
            torch.manual_seed(seed)
            model = models.create(name, num_classes=10, input_size=224)
            batch = smooth_images(3 + images, 224, seed=seed)
            trained_like(model, batch[:3], seed=seed + 1)
            program = convert(model, torch.zeros(1, 3, 224, 224))
            layers, _, _ = compare_signs(model, program, batch[3:])
            free, logits, expected = compare_signs(model, program, batch[3:], teacher=False)
            bits += sum(layer.bits for layer in layers)
            differ += sum(layer.differ for layer in layers)
            near += [n for layer in layers for n in layer.near]
            print(
                f"{name} seed {seed}: {sum(lay.differ for lay in layers)} differing signs, "
                f"drift <= {max(lay.drift for lay in layers):.1e}; end to end "
                f"{sum(lay.differ for lay in free)} signs, logits within "
                f"{float(np.abs(logits - expected).max()):.2g}",
                flush=True,
            )
        print(f"{name}: {differ} of {bits} signs differ ({differ / bits:.1e}), |value| / mean "
              f"at each: {near}")  # fmt: skip


if __name__ == "__main__":
    measure()
