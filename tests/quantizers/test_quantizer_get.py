"""quantizers.get, the QUANTIZERS registry entries, JSON-safe configs and declared precisions."""

from __future__ import annotations

import json

import pytest
import torch

from onebit import OnebitError, UnknownNameError, quantizers
from onebit.quantizers import QUANTIZERS

EXPECTED_NAMES = [
    "approx_sign",
    "dorefa",
    "identity",
    "lsq",
    "magnitude_aware_sign",
    "nested_lsq",
    "ste_sign",
    "stochastic_sign",
    "swish_sign",
    "switchable_lsq",
]
EXPECTED_PRECISION = {
    "approx_sign": 1,
    "dorefa": 2,
    "identity": 32,
    "lsq": 2,
    "magnitude_aware_sign": 1,
    "nested_lsq": 4,  # the widest of its default widths (2, 3, 4): what it stores
    "ste_sign": 1,
    "stochastic_sign": 1,
    "swish_sign": 1,
    "switchable_lsq": 4,
}
FUNCTIONS = {
    "approx_sign": quantizers.approx_sign,
    "dorefa": quantizers.dorefa,
    "identity": quantizers.identity,
    "lsq": quantizers.lsq,
    "magnitude_aware_sign": quantizers.magnitude_aware_sign,
    "nested_lsq": quantizers.nested_lsq,
    "ste_sign": quantizers.ste_sign,
    "stochastic_sign": quantizers.stochastic_sign,
    "swish_sign": quantizers.swish_sign,
    "switchable_lsq": quantizers.switchable_lsq,
}


def test_registry_holds_every_quantizer_under_its_function_name() -> None:
    assert QUANTIZERS.list() == EXPECTED_NAMES
    for name in EXPECTED_NAMES:
        assert FUNCTIONS[name].__name__ == name


@pytest.mark.parametrize("name", QUANTIZERS.list())
def test_name_builds_module_with_declared_precision(name: str) -> None:
    module = quantizers.get(name)
    assert isinstance(module, quantizers.Quantizer)
    assert module.name == name
    assert module.precision == EXPECTED_PRECISION[name]
    assert quantizers.precision_of(module) == EXPECTED_PRECISION[name]


@pytest.mark.parametrize("name", QUANTIZERS.list())
def test_our_function_object_builds_the_module(name: str) -> None:
    module = quantizers.get(FUNCTIONS[name])
    assert isinstance(module, quantizers.Quantizer)
    assert module.get_config() == quantizers.get(name).get_config()


@pytest.mark.parametrize("name", QUANTIZERS.list())
def test_default_config_round_trips_through_json(name: str) -> None:
    module = quantizers.get(name)
    config = module.get_config()
    assert config["name"] == name
    decoded = json.loads(json.dumps(config))
    rebuilt = quantizers.get(decoded)
    assert type(rebuilt) is type(module)
    assert rebuilt.get_config() == config


CONFIGS = [
    {"name": "ste_sign", "clip_value": 0.5},
    {"name": "ste_sign", "clip_value": None},
    {"name": "stochastic_sign", "clip_value": 2.0, "seed": 3},
    {"name": "swish_sign", "beta": 10.0},
    {"name": "magnitude_aware_sign", "clip_value": None},
    {"name": "dorefa", "k_bit": 3, "mode": "weights"},
    {"name": "dorefa", "k_bit": 1, "mode": "activations"},
    {"name": "lsq", "bits": 4, "signed": True, "mode": "weights"},
    {"name": "lsq", "bits": 8, "signed": False, "mode": "activations"},
    {"name": "nested_lsq", "bit_options": [1, 3, 8]},
    {"name": "switchable_lsq", "bit_options": [2, 5], "signed": True, "enabled": True},
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: json.dumps(c, sort_keys=True))
def test_non_default_config_round_trips_and_keeps_behaviour(config: dict) -> None:
    module = quantizers.get(config).eval()
    assert module.get_config() == config
    rebuilt = quantizers.get(json.loads(json.dumps(module.get_config()))).eval()
    assert rebuilt.get_config() == config
    x = torch.linspace(-3, 3, 61, dtype=torch.float64).view(1, -1)
    assert torch.equal(rebuilt(x), module(x))


def test_config_dict_arguments_reach_the_module() -> None:
    module = quantizers.get({"name": "ste_sign", "clip_value": 0.5})
    assert isinstance(module, quantizers.SteSign)
    assert module.clip_value == 0.5
    x = torch.tensor([-0.75, 0.25, 0.75], requires_grad=True)
    module(x).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0]


def test_get_does_not_mutate_the_config() -> None:
    config = {"name": "swish_sign", "beta": 3.0}
    quantizers.get(config)
    assert config == {"name": "swish_sign", "beta": 3.0}


def test_instance_passes_through_unchanged() -> None:
    module = quantizers.SteSign(clip_value=0.25)
    assert quantizers.get(module) is module


@pytest.mark.parametrize(
    "function", [torch.sign, torch.tanh, lambda x: x.clamp(-1, 1)], ids=["sign", "tanh", "lambda"]
)
def test_other_callables_pass_through_with_full_precision(function) -> None:
    assert quantizers.get(function) is function
    assert quantizers.precision_of(function) == 32


def test_none_stays_none_with_full_precision() -> None:
    assert quantizers.get(None) is None
    assert quantizers.precision_of(None) == 32


def test_unknown_name_suggests_nearest() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'ste_sign'") as info:
        quantizers.get("ste_sing")
    assert isinstance(info.value, OnebitError)
    with pytest.raises(UnknownNameError, match="'swish_sign'"):
        quantizers.get({"name": "swish_sigm"})


@pytest.mark.parametrize("spec", [42, 1.5, b"ste_sign", ["ste_sign"]], ids=repr)
def test_unusable_specs_raise(spec: object) -> None:
    with pytest.raises(OnebitError, match="cannot make a quantizer"):
        quantizers.get(spec)


def test_config_without_name_raises() -> None:
    with pytest.raises(OnebitError, match="'name'"):
        quantizers.get({"clip_value": 1.0})


@pytest.mark.parametrize("name", QUANTIZERS.list())
def test_bad_keyword_is_an_onebit_error_naming_the_arguments(name: str) -> None:
    with pytest.raises(OnebitError, match=rf"quantizer '{name}'.*not_an_argument.*it takes"):
        quantizers.get({"name": name, "not_an_argument": 1})


def test_bad_keyword_message_lists_what_it_takes() -> None:
    with pytest.raises(OnebitError, match=r"it takes: k_bit, mode\)"):
        quantizers.get({"name": "dorefa", "bits": 2})
    with pytest.raises(OnebitError, match=r"it takes: clip_value, seed\)"):
        quantizers.get({"name": "stochastic_sign", "clip": 2})


def test_a_quantizer_class_builds_an_instance() -> None:
    built = quantizers.get(quantizers.SteSign)
    assert isinstance(built, quantizers.SteSign)
    assert built.clip_value == 1.0
