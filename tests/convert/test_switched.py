"""A converted Bit-Mixer network as one switched program (convert/switched.py,
runtime/switches.py, csrc/executor/switches.cpp): every setting runs as its own plain conversion
does, bit for bit, in both executors, from weights stored once."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import torch

from onebit import models
from onebit._registry import OnebitError
from onebit.convert import convert
from onebit.nn.bitmixer import bit_layers
from onebit.runtime import Program, ProgramError, load
from onebit.runtime.reference_program import ReferenceProgram, load_reference
from onebit.runtime.switches import parse_bits

SETTINGS = list(itertools.product((2, 3, 4), repeat=3))  # every one
INPUT_QUANTIZATION = (1 / 16, 0)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    net = models.create("bitmixer-mlp", input_shape=(1, 8, 8), num_classes=10, hidden=40)
    net.train()
    with torch.no_grad():  # batch-norm statistics that differ per transition
        for _ in range(4):
            net(torch.rand(64, 1, 8, 8))
    net.set_bits([3, 3, 3])
    return net.eval()


@pytest.fixture(scope="module")
def program(model):
    return convert(model, torch.zeros(1, 1, 8, 8), input_quantization=INPUT_QUANTIZATION)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    return (rng.integers(0, 17, (9, 1, 8, 8)) / 16).astype(np.float32)


def plain(model, setting):
    model.set_bits(list(setting))
    try:
        converted = convert(
            model, torch.zeros(1, 1, 8, 8), input_quantization=INPUT_QUANTIZATION, switchable=False
        )
    finally:
        model.set_bits([3, 3, 3])
    assert not converted.switches
    return converted


def test_switches_follow_the_bit_layers_and_default_to_the_model_s_widths(model, program):
    names = {module: name for name, module in model.named_modules()}
    assert [s.name for s in program.switches] == [names[m] for m in bit_layers(model)]
    assert all(s.options == (2, 3, 4) for s in program.switches)
    assert program.bits == (3, 3, 3)
    assert model.bits == (3, 3, 3)  # conversion left the model as it was


@pytest.mark.parametrize("setting", SETTINGS, ids=str)
def test_every_setting_runs_as_its_plain_conversion(model, program, images, setting):
    expected = plain(model, setting)(images)
    assert np.array_equal(program(images, bits=setting), expected)
    reference = ReferenceProgram(program.graph, program.tensors, bits=setting)
    assert reference.bits == setting
    assert np.array_equal(reference(images), expected)
    model.set_bits(list(setting))
    try:
        with torch.no_grad():
            torch_out = model(torch.from_numpy(images)).numpy()
    finally:
        model.set_bits([3, 3, 3])
    np.testing.assert_allclose(expected, torch_out, rtol=1e-5, atol=1e-5)


def test_k_bit_weights_are_stored_once_at_the_widest_width(model, program):
    layers = [op for op in program.graph["ops"] if op["type"] == "kbit_dense"]
    assert len(layers) == len(bit_layers(model))
    for op in layers:
        cases = op["variants"]["cases"]
        names = {case["tensors"]["weight"] for case in cases}
        assert len(names) == 1
        weight = program.tensors[names.pop()]
        assert weight.shape[1] == 4  # the widest width's planes
        for case in cases:  # b bits (its own switch, the first) read the top b planes
            assert case["attrs"]["weight_first_plane"] == 4 - case["bits"][0]
    widest = plain(model, (4, 4, 4))
    weight_bytes = sum(a.nbytes for n, a in program.tensors.items() if n.endswith(".weight"))
    assert weight_bytes == sum(a.nbytes for n, a in widest.tensors.items() if n.endswith(".weight"))


def test_set_bits_takes_a_width_a_list_or_names(program, images):
    switched = copy.copy(program)
    switched._settings = dict(program._settings)
    first, _, last = (s.name for s in program.switches)
    switched.set_bits(2)
    assert switched.bits == (2, 2, 2)
    switched.set_bits({first: 4, last: 3})
    assert switched.bits == (4, 3, 3)  # the others at their defaults
    switched.set_bits([2, 3, 4])
    assert switched.bits == (2, 3, 4)
    assert np.array_equal(switched(images), program(images, bits=[2, 3, 4]))
    assert program.bits == (3, 3, 3)  # a per-call setting leaves the program's as it was
    switched.set_bits(None)
    assert switched.bits == (3, 3, 3)


@pytest.mark.parametrize(
    ("bits", "message"),
    [
        (5, "runs at [2, 3, 4] bits, not 5"),
        ([2, 3], "bits needs one width per switch (3), got 2"),
        ({"nope": 2}, "no switch named 'nope'"),
        ("4", "runs at [2, 3, 4] bits, not '4'"),
        (True, "not True"),
    ],
)
def test_a_setting_off_the_options_is_refused(program, bits, message):
    with pytest.raises(OnebitError, match=None) as error:
        program.set_bits(bits)
    assert message in str(error.value)
    assert program.bits == (3, 3, 3)


def test_a_plain_program_has_no_settings():
    net = models.create("binarynet-mlp", input_shape=(1, 8, 8), num_classes=10, hidden=16)
    converted = convert(net.eval(), torch.zeros(1, 1, 8, 8))
    assert converted.switches == () and converted.bits == ()
    with pytest.raises(OnebitError, match="no switchable layers"):
        converted.set_bits(2)


def test_the_file_keeps_the_switches(program, images, tmp_path):
    path = tmp_path / "bitmixer.onebit"
    program.save(path)
    loaded = load(path, bits=(2, 3, 4))
    assert loaded.bits == (2, 3, 4)
    assert np.array_equal(loaded(images), program(images, bits=(2, 3, 4)))
    assert np.array_equal(load_reference(path, bits=2)(images), program(images, bits=2))
    loaded.set_bits(3)
    assert np.array_equal(loaded(images), program(images))


def test_settings_share_the_loaded_tensors(program):
    before = {name: array.ctypes.data for name, array in program.tensors.items()}
    program(np.zeros((1, 1, 8, 8), np.float32), bits=2)
    executor = program._settings[(2, 2, 2)]
    after = {name: array.ctypes.data for name, array in executor.tensors.items()}
    assert before == after


@pytest.mark.parametrize(
    ("text", "bits"),
    [("4", 4), ("2,3,4", [2, 3, 4]), ("1=2, 5=4", {"1": 2, "5": 4})],
)
def test_parse_bits(text, bits):
    assert parse_bits(text) == bits


@pytest.mark.parametrize("text", ["", "two", "1=2,3", "1=x"])
def test_parse_bits_refuses_what_is_not_a_setting(text):
    with pytest.raises(OnebitError, match="is not a width"):
        parse_bits(text)


def mutate(program, change):
    graph = copy.deepcopy(program.graph)
    change(graph)
    return graph


def kbit_op(graph, index=0):
    return [op for op in graph["ops"] if op["type"] == "kbit_dense"][index]


def drop_case(graph):
    kbit_op(graph)["variants"]["cases"].pop()


def repeat_case(graph):
    cases = kbit_op(graph)["variants"]["cases"]
    cases[1]["bits"] = list(cases[0]["bits"])


def first_plane_too_far(graph):
    for case in kbit_op(graph)["variants"]["cases"]:
        case["attrs"]["weight_first_plane"] = 3


MUTATIONS = {
    "switches not a list": (lambda g: g.update(switches={}), "switches must be a list"),
    "no default": (lambda g: g["switches"][1].pop("default"), "switch #1 needs a name"),
    "default off the options": (
        lambda g: g["switches"][0].update(default=8),
        "switch #0 needs a name",
    ),
    "repeated option": (lambda g: g["switches"][0].update(options=[2, 2]), "switch #0 needs"),
    "width 9": (lambda g: g["switches"][0].update(options=[9], default=9), "switch #0 needs"),
    "repeated name": (
        lambda g: g["switches"][1].update(name=g["switches"][0]["name"]),
        "switch #1 repeats the name",
    ),
    "no switches": (lambda g: g.pop("switches"), "has variants but the program has no switches"),
    "unknown switch": (
        lambda g: kbit_op(g)["variants"].update(switches=["nope"]),
        "variants must name 1 to 4 distinct switches",
    ),
    "a missing case": (drop_case, "variants need one case per combination of their options (9)"),
    "a repeated case": (repeat_case, "cases need distinct bits"),
    "case tensor missing": (
        lambda g: kbit_op(g)["variants"]["cases"][0]["tensors"].update(scale="gone"),
        "tensor scale='gone' is missing",
    ),
    "case attrs not an object": (
        lambda g: kbit_op(g)["variants"]["cases"][0].update(attrs=[]),
        "cases' attrs and tensors must be objects",
    ),
    "weight_first_plane past the planes": (first_plane_too_far, "weight_first_plane 3 and"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_both_executors_refuse_a_broken_switched_graph_alike(program, name):
    change, message = MUTATIONS[name]
    graph = mutate(program, change)
    tensors = dict(program.tensors)
    with pytest.raises(ProgramError) as native:
        Program(graph, tensors, bits=None)
    with pytest.raises(ProgramError) as reference:
        ReferenceProgram(graph, tensors)
    assert str(native.value) == str(reference.value)
    assert message in str(native.value)


def test_a_switch_no_op_uses_and_all_settings_at_once(program, images):
    graph = mutate(
        program, lambda g: g["switches"].append({"name": "spare", "options": [1, 8], "default": 8})
    )
    both = Program(graph, dict(program.tensors))
    assert both.bits == (3, 3, 3, 8)
    for setting in itertools.product(*(s.options for s in both.switches[:2])):
        full = (*setting, 3, 1)
        assert np.array_equal(both(images, bits=full), program(images, bits=full[:3]))


def test_onebit_run_takes_the_widths(program, tmp_path):
    from typer.testing import CliRunner

    from onebit.cli import app

    path = tmp_path / "bitmixer.onebit"
    program.save(path)
    runner = CliRunner()
    last = program.switches[-1].name
    result = runner.invoke(app, ["run", str(path), "--data", "digits", "--bits", f"{last}=2"])
    assert result.exit_code == 0, result.output
    assert "layer widths [3, 3, 2]" in result.output
    result = runner.invoke(app, ["run", str(path), "--data", "digits", "--bits", "5,2"])
    assert result.exit_code == 2
    assert "bits needs one width per switch (3), got 2" in result.stderr
