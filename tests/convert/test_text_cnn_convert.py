"""The text CNN (``text-cnn``) converted: token ids through a packed binary embedding, binary
convolutions of height 1 over the sequence whose batch norms fold into thresholds, the mean over
time as an average pool before the sign (or the max over time as a binary max-pool of packed
bits), and a binary classifier. Its program (C++ and the Python
reference) gives the model's ``eval()`` output on fixed token inputs; the float twin converts
too. Sequences that the engine's layout cannot follow are refused by name."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from conftest import agree
from helpers import settle
from onebit import OnebitError, models
from onebit.convert import ConversionError, convert
from onebit.nn import QuantEmbedding
from onebit.runtime import load
from onebit.runtime.reference_program import ReferenceProgram

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VOCABULARY = 50
# (seq_len, embedding_dim, layers): dims around the word width, odd and even lengths
SHAPES = [(9, 7, 1), (24, 64, 2), (9, 65, 2), (24, 65, 1)]


def text_cnn(
    seq_len: int, dim: int, layers: int, binary: bool = True, seed: int = 0, pool: str = "mean"
):
    torch.manual_seed(seed)
    model = models.create(
        "text-cnn",
        vocab_size=VOCABULARY,
        seq_len=seq_len,
        num_classes=5,
        embedding_dim=dim,
        channels=33,
        layers=layers,
        binary=binary,
        kernel_size=5,
        pool=pool,
    )
    return settle(model, (seq_len,), seed=seed, vocab_size=VOCABULARY)


def token_ids(seq_len: int, seed: int, count: int = 64) -> torch.Tensor:
    ids = torch.randint(
        0, VOCABULARY, (count, seq_len), generator=torch.Generator().manual_seed(seed)
    )
    ids[0] = 0  # all padding
    ids[1, seq_len // 2 :] = 0  # a short text, padded
    return ids


POOLED = {
    # the max of signs is the sign of the max: a max-pool of packed bits
    "max": (["binary_maxpool2d"], ["bits"]),
    # the mean needs the last convolution's real output, then the classifier's sign
    "mean": (["avgpool2d", "sign_pack"], ["float"]),
}


@pytest.mark.parametrize("pool", list(POOLED))
@pytest.mark.parametrize(
    ("seq_len", "dim", "layers"), SHAPES, ids=[f"L{s}-D{d}-x{n}-seed0" for s, d, n in SHAPES]
)
def test_the_binary_text_cnn_runs_packed_end_to_end(seq_len, dim, layers, pool) -> None:
    model = text_cnn(seq_len, dim, layers, pool=pool)
    program = convert(model, torch.zeros(1, seq_len, dtype=torch.long))
    assert program.input_kind == "tokens" and program.input_shape == (seq_len,)
    types = [op.type for op in program.ops]
    pool_ops, last_epilogue = POOLED[pool]
    assert types == [
        "embedding",
        *["binary_conv2d"] * layers,
        *pool_ops,
        "flatten",
        "binary_dense",
    ]
    epilogues = [op.attrs["epilogue"] for op in program.ops[1 : 1 + layers]]
    assert epilogues == ["bits"] * (layers - 1) + last_epilogue
    assert program.ops[1].attrs["padding"] == [0, 2] and program.ops[1].attrs["pad_value"] == 1.0
    ids = token_ids(seq_len, seed=1)
    # the binary layers' integer sums and thresholds are exact; the last batch norm rounds
    agree(model, program, ids, atol=1e-5)
    reference = ReferenceProgram(program.graph, program.tensors)
    np.testing.assert_array_equal(reference(ids.numpy()), program(ids.numpy()))


@pytest.mark.parametrize(("seq_len", "dim", "layers"), [(9, 7, 2), (24, 65, 1)], ids=str)
def test_the_float_twin_converts(seq_len, dim, layers) -> None:
    model = text_cnn(seq_len, dim, layers, binary=False, seed=3)
    program = convert(model, torch.zeros(2, seq_len, dtype=torch.long))
    assert [op.type for op in program.ops][:2] == ["embedding", "conv2d"]
    assert program.ops[0].attrs["output"] == "float"
    agree(model, program, token_ids(seq_len, seed=4), atol=1e-4)


def test_the_program_file_keeps_the_token_input(tmp_path) -> None:
    model = text_cnn(9, 65, 2)
    program = convert(model, torch.zeros(1, 9, dtype=torch.long))
    path = tmp_path / "text.onebit"
    program.save(path)
    loaded = load(path)
    assert loaded.graph["input"]["kind"] == "tokens" and loaded.input_dtype == np.int64
    ids = token_ids(9, seed=2)
    np.testing.assert_array_equal(loaded(ids.numpy()), program(ids.numpy()))
    np.testing.assert_array_equal(loaded(ids.numpy().astype(np.int32)), program(ids.numpy()))
    with pytest.raises(OnebitError, match=r"token id 50 at sample 0, position 8 is not an"):
        loaded(np.array([[0] * 8 + [VOCABULARY]]))


class Rows(nn.Module):
    """An embedding whose (N, L, D) rows are convolved without the transpose: refused."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = QuantEmbedding(10, 6, weight_quantizer="ste_sign")
        self.conv = nn.Conv1d(6, 4, 3)

    def forward(self, x):
        return self.conv(self.embedding(x)).flatten(1)


class MaxNorm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(10, 6, max_norm=1.0)

    def forward(self, x):
        return self.embedding(x).flatten(1)


def test_what_the_layout_cannot_follow_is_refused_by_name() -> None:
    with pytest.raises(ConversionError, match=r"layer 'conv' \(Conv1d\).*\(C, L\) sequence"):
        convert(Rows(), torch.zeros(1, 6, dtype=torch.long))
    with pytest.raises(ConversionError, match=r"layer 'embedding' \(Embedding\): max_norm"):
        convert(MaxNorm(), torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ConversionError, match="integer inputs are token ids"):
        convert(nn.Linear(4, 2), torch.zeros(1, 4, dtype=torch.long))
    model = text_cnn(9, 7, 1)
    with pytest.raises(ConversionError, match=r"the model takes torch\.int64"):
        convert(model, torch.zeros(1, 9))
