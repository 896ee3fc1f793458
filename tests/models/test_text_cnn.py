"""text-cnn: token ids in, scores out; binary parts where the layout says, the float twin, the
data's vocabulary and length reaching the model, and argument checks."""

from __future__ import annotations

import pytest
import torch
from zoo_checks import assert_float_twin

from onebit import models
from onebit._registry import OnebitError
from onebit.nn import QuantConv1d, QuantEmbedding, QuantLinear, binary_parameters


def test_scores_per_class_from_token_ids() -> None:
    model = models.create("text-cnn", vocab_size=50, seq_len=9, num_classes=4, channels=8)
    ids = torch.randint(0, 50, (3, 9), generator=torch.Generator().manual_seed(0))
    assert model(ids).shape == (3, 4)
    assert model.input_shape == (9,) and model.input_dtype == torch.int64
    assert model.vocab_size == 50


def test_every_weight_and_the_table_are_binary() -> None:
    model = models.create("text-cnn", vocab_size=30, seq_len=5, num_classes=3, layers=3)
    binary = {name for name, _ in binary_parameters(model)}
    quantized = {
        f"{name}.weight"
        for name, m in model.named_modules()
        if isinstance(m, (QuantEmbedding, QuantConv1d, QuantLinear))
    }
    assert binary == quantized and len(quantized) == 5
    assert all(m.pad_value == 1.0 for m in model.modules() if isinstance(m, QuantConv1d))


def test_float_twin_has_the_same_parameters_and_no_quantizer() -> None:
    args = {"vocab_size": 30, "seq_len": 5, "num_classes": 3}
    assert_float_twin(
        models.create("text-cnn", **args), models.create("text-cnn", **args, binary=False)
    )


def test_padding_reads_as_the_convolutions_pad_value() -> None:
    model = models.create("text-cnn", vocab_size=30, seq_len=5, num_classes=3).eval()
    padding_row = model.embedding(torch.zeros(1, 1, dtype=torch.long))
    assert torch.equal(padding_row, torch.ones_like(padding_row))


def test_the_data_sets_vocabulary_length_and_classes() -> None:
    kwargs = models.data_kwargs("text-cnn", (12,), 7, vocab_size=100)
    assert kwargs == {"vocab_size": 100, "seq_len": 12, "num_classes": 7}
    with pytest.raises(OnebitError, match="text-cnn is a text model; the data has inputs"):
        models.data_kwargs("text-cnn", (1, 28, 28), 10)
    with pytest.raises(OnebitError, match="mcu-bnn is not a text model; the data has token ids"):
        models.data_kwargs("mcu-bnn", (12,), 7, vocab_size=100)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"vocab_size": 1}, "vocab_size must be an integer >= 2"),
        ({"kernel_size": 4}, "kernel_size must be odd"),
        ({"layers": 0}, "layers must be an integer >= 1"),
        ({"seq_len": 2.5}, "seq_len must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_named(args: dict, message: str) -> None:
    with pytest.raises(OnebitError, match=message):
        models.create("text-cnn", **args)
