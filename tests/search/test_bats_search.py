"""The BATS search: the supernet's mixed edges and temperature, DARTS' discretization, the search
loop on real data (held-out splits untouched), and ``onebit search bats``'s files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from onebit import OnebitError
from onebit import data as datasets
from onebit.cli import app
from onebit.models.bats_genotype import load_genotype
from onebit.models.bats_ops import PRIMITIVES
from onebit.search.bats import SearchConfig, search_bats, searched_halves
from onebit.search.plot import edge_labels
from onebit.search.supernet import MixedOp, SearchNetwork, derive_genotype, edge_count

pytestmark = pytest.mark.usefixtures("one_torch_thread")

QUICK = {"dataset": "digits", "epochs": 2, "max_samples": 128, "batch_size": 32, "channels": 4}


def test_a_mixed_edge_is_the_weighted_sum_of_its_ops() -> None:
    torch.manual_seed(0)
    edge = MixedOp(8, 1, groups=4).eval()
    x = torch.randn(2, 8, 5, 5)
    w = torch.softmax(torch.randn(len(PRIMITIVES)), 0)
    expected = sum(w[i] * op(x) for i, op in enumerate(edge.ops))
    assert torch.allclose(edge(x, w), expected, atol=1e-6)


def test_the_temperature_sharpens_the_architecture_softmax() -> None:
    torch.manual_seed(0)
    net = SearchNetwork((1, 8, 8), 3, channels=4, layers=3, temperature=0.2)
    assert net.alpha_normal.shape == (edge_count(4), len(PRIMITIVES)) == (14, 8)
    with torch.no_grad():
        net.alpha_normal.copy_(torch.linspace(0, 1, 8).expand(14, 8))
    sharp = net.architecture_weights()["normal"][0]
    assert torch.allclose(sharp, torch.softmax(torch.linspace(0, 5, 8), 0))
    assert set(map(id, net.weight_parameters())).isdisjoint(map(id, net.architecture_parameters()))
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    with pytest.raises(OnebitError, match="temperature must be > 0"):
        SearchNetwork((1, 8, 8), 3, temperature=0)


def test_discretization_keeps_each_nodes_two_strongest_edges_without_none() -> None:
    nodes = 2
    weights = torch.full((edge_count(nodes), len(PRIMITIVES)), 0.01)
    op = {name: i for i, name in enumerate(PRIMITIVES)}
    weights[0, op["none"]] = 0.9  # "none" is strongest on edge 0 but never kept
    weights[0, op["max_pool_3x3"]] = 0.05
    weights[1, op["group_conv_3x3"]] = 0.5
    weights[2, op["skip_connect"]] = 0.2  # node 1 <- state 0
    weights[3, op["dil_group_conv_5x5"]] = 0.1  # node 1 <- state 1
    weights[4, op["avg_pool_3x3"]] = 0.3  # node 1 <- node 0 (state 2)
    genotype = derive_genotype({"normal": weights, "reduce": weights}, nodes)
    assert genotype.normal == (
        ("max_pool_3x3", 0),
        ("group_conv_3x3", 1),
        ("skip_connect", 0),
        ("avg_pool_3x3", 2),
    )
    with pytest.raises(OnebitError, match="normal weights of shape"):
        derive_genotype({"normal": weights[:3], "reduce": weights}, nodes)


def test_the_search_uses_only_the_training_part_in_two_disjoint_halves() -> None:
    config = SearchConfig(dataset="digits")
    (xw, _), (xa, _), splits = searched_halves(config)
    full = datasets.load("digits", val_fraction=config.val_fraction)
    assert len(xw) == len(xa) == len(full.x_train) // 2
    train_rows = {row.tobytes() for row in full.x_train}
    assert all(row.tobytes() in train_rows for row in np.concatenate([xw, xa]))
    assert len(splits.x_test) == len(full.x_test) and len(splits.x_val) == len(full.x_val)


def test_a_short_search_records_every_epoch_and_derives_a_valid_genotype() -> None:
    rows = []
    result = search_bats(SearchConfig(**QUICK, seed=3), on_epoch=rows.append)
    assert [row["epoch"] for row in result.history] == [0, 1, 2] and rows == result.history[1:]
    for row in result.history:
        for cell in ("normal", "reduce"):
            w = np.array(row["weights"][cell])
            assert w.shape == (14, len(PRIMITIVES)) and np.allclose(w.sum(1), 1)
    assert result.history[0]["weights"] != result.history[-1]["weights"]  # alpha moved
    assert all(math.isfinite(row["arch_loss"]) for row in result.history[1:])
    assert result.genotype.search["dataset"] == "digits" and result.genotype.search["seed"] == 3
    again = search_bats(SearchConfig(**QUICK, seed=3))
    assert again.genotype == result.genotype and again.history == result.history  # seeded


def test_warm_up_epochs_leave_the_architecture_uniform() -> None:
    result = search_bats(SearchConfig(**QUICK, warmup_epochs=1))
    assert result.history[1]["weights"] == result.history[0]["weights"]
    assert math.isnan(result.history[1]["arch_loss"])
    with pytest.raises(OnebitError, match="warmup_epochs must be in"):
        search_bats(SearchConfig(**QUICK | {"warmup_epochs": 2}))
    with pytest.raises(OnebitError, match="not a classification dataset"):
        search_bats(SearchConfig(**QUICK | {"dataset": "mnist-landmarks"}))


def test_the_cli_writes_the_genotype_the_log_and_the_plot(tmp_path) -> None:
    out = tmp_path / "search"
    args = ["search", "bats", "--data", "digits", "--epochs", "1", "--max-samples", "64"]
    result = CliRunner().invoke(app, [*args, "--channels", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    genotype = load_genotype(out / "genotype.json")
    log = json.loads((out / "search.json").read_text())
    assert log["genotype"] == genotype.to_dict() and len(log["history"]) == 2
    assert (out / "weights.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "searched in" in result.output and "normal:" in result.output
    assert edge_labels(2) == [
        "node 0 <- 0",
        "node 0 <- 1",
        "node 1 <- 0",
        "node 1 <- 1",
        "node 1 <- 2",
    ]
    bad = CliRunner().invoke(app, [*args, "--temperature", "-1", "--out", str(out)])
    assert bad.exit_code == 2 and "temperature must be a positive number" in bad.output


def test_each_search_step_leaves_the_other_parameters_out_of_backward() -> None:
    from onebit.search.bats import _frozen

    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    with _frozen([a]):
        (a * b).sum().backward()
        assert not a.requires_grad
    assert a.grad is None and torch.equal(b.grad, torch.ones(2)) and a.requires_grad
    with pytest.raises(RuntimeError), _frozen([b]):
        raise RuntimeError("a failed step")
    assert b.requires_grad  # restored on the way out of a failure too
