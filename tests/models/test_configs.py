"""The zoo's default config table: every entry builds at its defaults, counts its parameters as
its reference does, describes itself in one plain line, and fills the README's zoo table."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from onebit import OnebitError, models
from onebit.cli import app
from onebit.models.configs import COUNTINGS, count_parameters, markdown_table

NAMES = list(models.CONFIGS)
README = Path(__file__).resolve().parents[2] / "README.md"
TABLE_START = "<!-- zoo table: onebit models --markdown -->\n"
TABLE_END = "<!-- end of zoo table -->"


def test_every_registered_model_has_a_config_and_every_config_a_model():
    assert sorted(NAMES) == models.list()
    assert all(models.config(name).name == name for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_at_the_default_config_is_the_reference(name):
    config = models.config(name)
    with torch.device("meta"):
        model = models.create(name)
    assert count_parameters(model, config.counting) == config.reference_parameters


@pytest.mark.parametrize("name", NAMES)
def test_builds_and_runs_at_its_default_input(name):
    config = models.config(name)
    with torch.device("meta"):
        model = models.create(name)
        dtype = getattr(model, "input_dtype", None)  # a text model's token ids, else float
        logits = model(torch.zeros(2, *config.input_shape, dtype=dtype))
    assert model.input_shape == config.input_shape and model.num_classes == config.num_classes
    output_shape = getattr(model, "output_shape", (config.num_classes,))  # heatmaps, or logits
    assert logits.shape == (2, *output_shape) and output_shape[0] == config.num_classes
    assert model.onebit_config == {"name": name}


@pytest.mark.parametrize("name", NAMES)
def test_description_is_one_plain_line(name):
    description = models.config(name).description
    assert description == description.strip() and "\n" not in description
    assert description[0].isupper() and description.endswith(".")
    assert len(description) <= 80  # `onebit models` prints it whole in 132 columns
    assert not re.search(r"`|:[a-z]+:|\*", description)  # no RST or markdown markup


def test_an_entry_takes_its_builders_options_with_the_configs_defaults():
    parameters = inspect.signature(models.MODELS.builder("birealnet18")).parameters
    assert {name: p.default for name, p in parameters.items()} == {
        "num_classes": 1000,
        "input_size": 224,
        "in_channels": 3,
        "binary": True,
    }
    # the architecture's arguments are fixed by the entry, not options
    with pytest.raises(OnebitError, match=r"'birealnet18'.*depth.*it takes: num_classes"):
        models.create("birealnet18", depth=34)
    mlp = inspect.signature(models.MODELS.builder("float-mlp")).parameters
    assert list(mlp) == ["input_shape", "num_classes", "hidden", "depth", "dropout", "norm"]
    assert mlp["input_shape"].default == (1, 28, 28)


def test_overrides_replace_the_configs_defaults_and_none_keeps_them():
    model = models.create("quicknet-small", num_classes=7, input_size=None, in_channels=1)
    assert model.input_shape == (1, 224, 224) and model.num_classes == 7
    assert model.onebit_config == {"name": "quicknet-small", "num_classes": 7, "in_channels": 1}


def test_countings_on_a_small_model():
    """A 3x3 conv (108 weights), an affine batch norm and one without scale and shift, 4 each."""
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.BatchNorm2d(4, affine=False)
    )
    assert count_parameters(model, "parameters()") == 108 + 8
    assert count_parameters(model, "keras") == 108 + 8 + 2 * 8  # + moving means and variances
    assert count_parameters(model, "larq summary") == 108 + 2 * 4 + 2 * 4
    assert set(COUNTINGS) == {"parameters()", "keras", "larq summary"}
    with pytest.raises(ValueError, match="counting must be one of"):
        count_parameters(model, "tf")


def test_readme_zoo_table_is_the_generated_one():
    readme = README.read_text(encoding="utf-8")
    assert readme.count(TABLE_START) == 1 and readme.count(TABLE_END) == 1
    table = readme.split(TABLE_START)[1].split(TABLE_END)[0]
    assert table == markdown_table(), "regenerate it: onebit models --markdown"


def test_onebit_models_prints_every_description_whole():
    result = CliRunner().invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for name in NAMES:
        config = models.config(name)
        assert config.description in result.stdout
        assert f"{'x'.join(map(str, config.input_shape))}, {config.output_count}" in result.stdout
        assert config.output_count == f"{config.num_classes} {config.outputs}"
