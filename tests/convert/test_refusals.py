"""What the converter cannot run is refused with one line that names what was wrong."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import settle
from onebit import models
from onebit import quantizers as q
from onebit.convert import ConversionError, convert
from onebit.nn import QuantConv2d, QuantLinear


def _refused(model: nn.Module, example: torch.Tensor, message: str) -> str:
    with pytest.raises(ConversionError, match=message) as error:
        convert(model, example)
    text = str(error.value)
    assert "\n" not in text
    return text


def my_sign(x):
    return torch.where(x >= 0, 1.0, -1.0)


class _OwnSign(q.SteSign):
    def forward(self, x):  # a sign with a shifted threshold: not ste_sign any more
        return super().forward(x - 0.5)


@pytest.mark.parametrize(
    ("role", "quantizer", "named"),
    [
        ("input", my_sign, "function 'my_sign'"),
        ("input", lambda x: torch.sign(x), "function '<lambda>'"),
        ("weight", my_sign, "function 'my_sign'"),
        ("input", _OwnSign(), "module _OwnSign"),
    ],
    ids=["function", "lambda", "weight-function", "subclass"],
)
def test_a_custom_quantizer_is_refused_naming_the_layer_and_the_quantizer(role, quantizer, named):
    layer = QuantLinear(12, 4, **{f"{role}_quantizer": quantizer})
    model = nn.Sequential(nn.Flatten(), layer).eval()
    _refused(
        model, torch.zeros(1, 3, 2, 2), f"layer '1' \\(QuantLinear\\): {role} quantizer {named}"
    )


def test_a_subclassed_sign_module_in_the_graph_is_traced_through():
    # as a module of its own, _OwnSign's forward is traced: the shift is an add of a constant
    model = nn.Sequential(nn.Conv2d(3, 4, 3), _OwnSign(), nn.Flatten()).eval()
    _refused(model, torch.zeros(1, 3, 5, 5), r"operation 'sub' \(sub\) cannot be converted")


def test_a_model_off_the_cpu_is_refused():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4, device="meta"))
    _refused(model, torch.zeros(1, 3, 2, 2), "parameter '1.weight' is on meta.*model.cpu\\(\\)")


def test_a_float64_model_is_refused():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4)).double()
    _refused(model, torch.zeros(1, 3, 2, 2), "parameter '1.weight' is torch.float64")


def test_a_wrong_example_shape_names_both_shapes_for_a_zoo_model():
    model = models.create("binarynet-mlp", hidden=16, depth=1)
    _refused(model, torch.zeros(1, 1, 32, 32), r"\(1, 1, 32, 32\).*takes \(N, 1, 28, 28\)")


def test_a_wrong_example_shape_names_the_layer_it_fails_in():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 3 * 3, 2)).eval()
    text = _refused(model, torch.zeros(1, 3, 6, 6), "does not fit the model: layer '2'")
    assert "1x64 and 36x2" in text


@pytest.mark.parametrize(
    ("field", "value"),
    [("running_var", float("nan")), ("running_mean", float("inf")), ("weight", float("nan")),
     ("running_var", -1.0)],
    ids=["nan-var", "inf-mean", "nan-gamma", "negative-var"],
)  # fmt: skip
def test_batch_norm_with_non_finite_statistics_is_refused(field, value):
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        QuantConv2d(4, 4, 3, input_quantizer="ste_sign", weight_quantizer="ste_sign"),
    )
    model = settle(model, (3, 5, 5))
    with torch.no_grad():
        getattr(model[1], field)[1] = value
    _refused(model, torch.zeros(1, 3, 5, 5), "layer '1' \\(BatchNorm2d\\)")


def test_non_finite_weights_are_refused():
    model = nn.Sequential(nn.Flatten(), QuantLinear(12, 4, weight_quantizer="ste_sign"))
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    _refused(model.eval(), torch.zeros(1, 3, 2, 2), "layer '1' \\(QuantLinear\\): the weight")


def test_a_batch_norm_that_overflows_float32_is_refused_by_name():
    model = nn.Sequential(
        QuantConv2d(3, 4, 3, input_quantizer="ste_sign", weight_quantizer="ste_sign", bias=False),
        nn.BatchNorm2d(4),
        QuantConv2d(4, 4, 1, input_quantizer="ste_sign", weight_quantizer="ste_sign"),
    ).eval()
    with torch.no_grad():
        model[1].weight[0] = 1e38
        model[1].running_var[0] = 1e-30
        model[1].eps = 0.0
    _refused(model, torch.zeros(1, 3, 5, 5), "layer '1' \\(BatchNorm2d\\): .*overflows float32")


def test_a_float_layer_scale_that_overflows_float32_is_refused_by_name():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4), nn.BatchNorm1d(4)).eval()
    with torch.no_grad():
        model[2].weight.fill_(3e38)
        model[2].running_var.fill_(1e-6)
        model[2].eps = 1e-30
    _refused(model, torch.zeros(1, 3, 2, 2), "layer '2' \\(BatchNorm1d\\): .*overflows float32")


def test_a_model_that_is_not_a_module_is_refused():
    _refused(lambda x: x, torch.zeros(1, 4), "model must be a torch.nn.Module, got function")


def _hooked_model() -> nn.Sequential:
    binary = {"input_quantizer": "ste_sign", "weight_quantizer": "ste_sign", "bias": False}
    return nn.Sequential(
        nn.BatchNorm2d(3),
        QuantConv2d(3, 8, 3, padding=1, pad_value=1.0, **binary),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    ).eval()


@pytest.mark.parametrize(
    ("layer", "register"),
    [
        (1, lambda m: m.register_forward_hook(lambda mod, i, o: o * 2 + 1)),
        (1, lambda m: m.register_forward_pre_hook(lambda mod, i: (i[0] * -1,))),
        (0, lambda m: m.register_forward_hook(lambda mod, i, o: o + 1)),
        (4, lambda m: m.register_forward_hook(lambda mod, i, o: o, with_kwargs=True)),
    ],
    ids=["binary-conv-hook", "binary-conv-pre-hook", "batch-norm-hook", "linear-kwargs-hook"],
)
def test_a_layer_with_forward_hooks_is_refused_by_name(layer, register):
    model = _hooked_model()
    handle = register(model[layer])
    _refused(model, torch.zeros(1, 3, 8, 8), f"layer '{layer}' .* has forward hooks")
    handle.remove()
    convert(model, torch.zeros(1, 3, 8, 8))  # the same model without its hook converts


def test_global_forward_hooks_are_refused():
    model = _hooked_model()
    handle = torch.nn.modules.module.register_module_forward_hook(lambda mod, i, o: o)
    try:
        _refused(model, torch.zeros(1, 3, 8, 8), "global forward hooks are registered")
    finally:
        handle.remove()


def test_a_method_replaced_on_one_instance_is_refused_by_name():
    model = _hooked_model()
    original = model[1].forward
    model[1].forward = lambda x: -original(x)
    _refused(model, torch.zeros(1, 3, 8, 8), r"layer '1' \(QuantConv2d\) replaces .*forward")


def test_a_quantized_weight_patched_on_one_instance_is_refused_by_name():
    import types

    model = _hooked_model()
    model[1].quantized_weight = types.MethodType(lambda self: -self.weight.sign(), model[1])
    _refused(model, torch.zeros(1, 3, 8, 8), "replaces its method.*quantized_weight")


def test_a_program_the_runtime_refuses_is_a_conversion_error():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Linear(3, 2)).eval()
    with torch.no_grad():
        for layer in (model[1], model[2]):
            layer.weight.fill_(1e30)  # finite float32, but 1e6 * 4e30 passes the value bound
    text = _refused(model, torch.zeros(1, 4), "the converted program is refused by the runtime: ")
    assert "its outputs can reach" in text
