"""The runs of a classifier experiment: each network's learning rate chosen on validation, then
every seed trained, its operations counted, converted, and its packed program scored on the test
split against the model's own predictions."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from onebit._registry import OnebitError
from onebit.convert import convert
from onebit.experiments.selection import Candidate, select
from onebit.summary import summarize
from onebit.train import TrainConfig, fit


def model_inputs(splits: Any) -> np.ndarray:
    """The test split as a model takes it: token ids stay int64, images become float32."""
    x = splits.x_test
    return np.ascontiguousarray(x if x.dtype == np.int64 else x.astype(np.float32, copy=False))


def torch_predictions(model: torch.nn.Module, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """The class of each sample from ``model`` in eval mode."""
    with torch.no_grad():
        return np.concatenate(
            [
                model(torch.from_numpy(x[start : start + batch_size])).argmax(1).numpy()
                for start in range(0, len(x), batch_size)
            ]
        )


def final_run(
    variant: str, config: TrainConfig, splits: Any
) -> tuple[dict[str, Any], Any, torch.nn.Module]:
    """Train one seed and convert it; the row of figures, the program (None where the converter
    refused the model: ``program_refused`` says why) and the trained model in eval mode."""
    started = time.perf_counter()
    result = fit(config, splits)
    model = result.model.eval()
    counts = summarize(model)
    example = torch.zeros(1, *splits.input_shape, dtype=getattr(model, "input_dtype", None))
    x = model_inputs(splits)
    expected = torch_predictions(model, x)
    row: dict[str, Any] = {
        "variant": variant,
        "seed": config.seed,
        "lr": config.lr,
        **{key: result.final[key] for key in ("val_accuracy", "test_accuracy")},
        "test_samples": len(x),
        "binary_macs": counts.binary_macs,
        "float_macs": counts.float_macs,
        "parameters": counts.params,
        "packed_bytes": counts.packed_bytes,
        "float32_bytes": counts.float32_bytes,
        "seconds_per_epoch": result.seconds_per_epoch,
    }
    try:
        program = convert(model, example)
    except OnebitError as error:
        program = None
        row |= {"program_refused": str(error), "program_test_accuracy": None}
        row |= {"predictions_changed": None, "program_bytes": None}
    else:
        predicted = program(x).argmax(1)
        row |= {
            "program_test_accuracy": float((predicted == splits.y_test).mean()),
            "predictions_changed": int((predicted != expected).sum()),
            "program_bytes": program.nbytes,
        }
    row |= {"wall_seconds": time.perf_counter() - started, "history": result.history}
    return row, program, model


def select_then_train(
    names: Sequence[str],
    recipe: Callable[[str, int, float], TrainConfig],
    grid: Sequence[Candidate],
    rule: str,
    splits: Any,
    seeds: Sequence[int],
    selection_seed: int,
    log: Callable[[str], None],
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, tuple[Any, torch.nn.Module]]]:
    """For each network of ``names``: choose its learning rate on validation accuracy (``grid``
    on ``selection_seed``, :func:`~onebit.experiments.selection.select`), then train every seed
    at that rate and convert it (:func:`final_run`).

    Args:
        recipe: ``(network, seed, lr) -> TrainConfig``.

    Returns:
        The final runs' rows, each network's selection (its candidates and choice), and the
        first seed's program and model of each network.
    """
    runs: list[dict[str, Any]] = []
    selections: dict[str, Any] = {}
    programs: dict[str, tuple[Any, torch.nn.Module]] = {}
    for name in names:

        def train_candidate(candidate: Candidate, name: str = name) -> dict[str, float]:
            final = fit(recipe(name, selection_seed, candidate.settings["lr"]), splits).final
            log(f"{name} selection, {candidate.name}: val accuracy {final['val_accuracy']:.2%}")
            return final

        selection = select(grid, train_candidate, ("val_accuracy",), rule)
        selections[name] = {"seed": selection_seed, **selection.as_json()}
        lr = selection.best.settings["lr"]
        for seed in seeds:
            row, program, model = final_run(name, recipe(name, seed, lr), splits)
            runs.append(row)
            if seed == seeds[0]:
                programs[name] = (program, model)
            engine = (
                "refused"
                if row["program_test_accuracy"] is None
                else f"{row['program_test_accuracy']:.2%} ({row['predictions_changed']} changed)"
            )
            log(
                f"{name} seed {seed}: val {row['val_accuracy']:.2%}, test "
                f"{row['test_accuracy']:.2%}, program {engine}"
            )
    return runs, selections, programs
