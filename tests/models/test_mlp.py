from __future__ import annotations

import pytest
import torch
from torch import nn

from onebit import OnebitError, models
from onebit.nn import QuantLinear, binary_parameters


def test_registry_lists_both_mlps():
    assert {"binarynet-mlp", "float-mlp"} <= set(models.list())
    assert models.list("float-*") == ["float-mlp"]


def test_binarynet_mlp_layout_follows_the_bnn_paper():
    net = models.create("binarynet-mlp", hidden=32, depth=3)
    linears = [m for m in net if isinstance(m, QuantLinear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (784, 32),
        (32, 32),
        (32, 32),
        (32, 10),
    ]
    assert linears[0].input_quantizer is None  # pixels stay full precision
    assert all(m.input_quantizer.name == "ste_sign" for m in linears[1:])
    assert all(m.weight_quantizer.name == "ste_sign" and m.bias is None for m in linears)
    kinds = [type(m) for m in net]
    for i, kind in enumerate(kinds):
        if kind is QuantLinear:
            assert kinds[i + 1] is nn.BatchNorm1d  # BatchNorm sits before every sign
    assert net.input_shape == (1, 28, 28) and net.num_classes == 10


def test_float_twin_has_the_same_parameter_count_and_no_binary_weights():
    binary = models.create("binarynet-mlp", hidden=48, depth=2)
    twin = models.create("float-mlp", hidden=48, depth=2)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(binary) == count(twin)
    assert list(binary_parameters(twin)) == []
    assert len(list(binary_parameters(binary))) == 3


def test_hidden_activations_are_binary():
    net = models.create("binarynet-mlp", hidden=16, depth=2).eval()
    seen = []
    net[3].register_forward_pre_hook(lambda mod, args: seen.append(mod.input_quantizer(args[0])))
    net(torch.randn(5, 1, 28, 28))
    assert set(seen[0].unique().tolist()) <= {-1.0, 1.0}


def test_create_drops_none_overrides_and_records_its_config():
    net = models.create("binarynet-mlp", hidden=None, depth=2, input_shape=(1, 8, 8))
    assert net.onebit_config == {"name": "binarynet-mlp", "depth": 2, "input_shape": (1, 8, 8)}
    assert net[1].in_features == 64 and net[1].out_features == 1024


def test_quantizers_are_configurable():
    net = models.create("binarynet-mlp", hidden=8, depth=1, input_quantizer="approx_sign")
    assert net[3].input_quantizer.name == "approx_sign"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden": 0}, "hidden"),
        ({"dropout": 1.0}, "dropout"),
        ({"num_classes": 1}, "num_classes"),
        ({"input_shape": (0, 3)}, "input_shape"),
        ({"widht": 3}, "it takes"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(OnebitError, match=message):
        models.create("binarynet-mlp", **kwargs)
