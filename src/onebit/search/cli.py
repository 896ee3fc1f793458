"""``onebit search bats``: run a BATS search and write its genotype, log and plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from onebit._cli_output import console, reports_errors

search_app = typer.Typer(
    help="Search binary architectures (BATS) and write the genotype that `onebit train bats "
    "--model-arg genotype=FILE` trains.",
    no_args_is_help=True,
)


@search_app.command()
@reports_errors
def bats(
    data: Annotated[
        str, typer.Option(help="A classification dataset: mnist5k, digits, cifar10.")
    ] = "mnist5k",
    data_path: Annotated[
        Path | None, typer.Option(help="The dataset's file or folder (file-based sets).")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    warmup_epochs: Annotated[
        int, typer.Option(min=0, help="First epochs with weight steps only.")
    ] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    channels: Annotated[int, typer.Option(min=1, help="The supernet's first cells' C.")] = 8,
    layers: Annotated[int, typer.Option(min=1, help="Cells of the supernet.")] = 3,
    groups: Annotated[int, typer.Option(min=1, help="Groups of the binary convolutions.")] = 4,
    nodes: Annotated[int, typer.Option(min=1, max=16, help="Nodes per cell.")] = 4,
    stem_stride: Annotated[int, typer.Option(min=1, help="Stride of the stem's conv.")] = 1,
    temperature: Annotated[float, typer.Option(help="T of softmax(alpha / T).")] = 0.2,
    lr: Annotated[float, typer.Option(help="Adam's learning rate for the weights.")] = 1e-3,
    arch_lr: Annotated[float, typer.Option(help="Adam's learning rate for alpha.")] = 3e-4,
    max_samples: Annotated[
        int, typer.Option(min=0, help="Search on at most this many training samples (0: all).")
    ] = 0,
    seed: Annotated[int, typer.Option()] = 0,
    threads: Annotated[int, typer.Option(min=0, help="Torch threads (0: default).")] = 0,
    out: Annotated[
        Path, typer.Option(help="Directory for genotype.json, search.json, weights.png.")
    ] = Path("runs/bats-search"),
) -> None:
    """Search a normal and a reduction cell with binary weights and activations.

    Writes OUT/genotype.json (train it with `onebit train bats --model-arg
    genotype=OUT/genotype.json`), OUT/search.json (per-epoch losses and architecture weights)
    and OUT/weights.png (the weights over time). Validation and test data are never searched on.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from onebit.atomic import atomic_open
    from onebit.models.bats_genotype import save_genotype
    from onebit.search.bats import SearchConfig, search_bats
    from onebit.search.plot import plot_architecture_weights

    config = SearchConfig(
        dataset=data,
        data_path=None if data_path is None else str(data_path),
        epochs=epochs,
        warmup_epochs=warmup_epochs,
        batch_size=batch_size,
        channels=channels,
        layers=layers,
        groups=groups,
        nodes=nodes,
        stem_stride=stem_stride,
        temperature=temperature,
        lr=lr,
        arch_lr=arch_lr,
        max_samples=max_samples,
        seed=seed,
        threads=threads,
    )
    config.check()
    with Progress(
        "[bold]epoch {task.fields[epoch]}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("search", total=None, epoch=1)

        def on_step(step: int, steps: int) -> None:
            progress.update(task, completed=step, total=steps)

        def on_epoch(row: dict) -> None:
            progress.update(task, completed=0, epoch=row["epoch"] + 1)
            arch = (
                f"  arch loss {row['arch_loss']:.4f} acc {row['arch_accuracy']:.2%}"
                if row["arch_loss"] == row["arch_loss"]
                else "  (warm-up)"
            )
            progress.console.print(
                f"epoch {row['epoch']}/{epochs}  loss {row['train_loss']:.4f} "
                f"acc {row['train_accuracy']:.2%}{arch}",
                highlight=False,
            )

        result = search_bats(config, on_epoch=on_epoch, on_step=on_step)
    out.mkdir(parents=True, exist_ok=True)
    genotype_path = save_genotype(result.genotype, out / "genotype.json")
    log = {"genotype": result.genotype.to_dict(), "history": result.history}
    with atomic_open(out / "search.json", "w") as handle:
        json.dump(log, handle)
    plot = plot_architecture_weights(
        result.history, nodes, out / "weights.png", title=f"BATS search on {data}"
    )
    for name, edges in (("normal", result.genotype.normal), ("reduce", result.genotype.reduce)):
        console.print(f"{name}: " + ", ".join(f"{op}<-{s}" for op, s in edges), highlight=False)
    console.print(f"searched in {result.minutes:.1f} min", highlight=False)
    for path in (genotype_path, out / "search.json", plot):
        console.print(f"wrote {path}", highlight=False)
