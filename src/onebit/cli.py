"""The ``onebit`` command line. Each subcommand is a thin call into the library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

try:
    import typer
    from rich.table import Table
    from typer.core import TyperCommand, TyperGroup
except ImportError as missing:  # the runtime-only install: numpy and safetensors
    raise SystemExit(
        f"onebit: the command line needs the cli extra ({missing.name} is not installed): "
        "pip install 'onebit[cli]' to run programs, 'onebit[train]' for everything"
    ) from None

from onebit._cli_output import console, reports_errors
from onebit._registry import OnebitError
from onebit.bench.cli import bench_app
from onebit.bench.provenance import Provenance
from onebit.search.cli import search_app

app = typer.Typer(
    name="onebit",
    help="Binary neural networks: train and summarize them in PyTorch, convert them to packed "
    ".onebit programs, and run and time those with XNOR-popcount kernels.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            installed = version("onebit")
        except PackageNotFoundError:
            from onebit import __version__ as installed
        console.print(f"onebit {installed}", highlight=False)
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """The options of ``onebit`` itself (the app's help text describes the command)."""


def _registry_choices() -> dict[str, str]:
    """The help of each option whose values come from a registry, listing them (read when help
    is shown, so that a plain command does not import torch for it)."""
    from onebit import quantizers
    from onebit.models.mlp import NORMS

    names = ", ".join(quantizers.QUANTIZERS.list())
    return {
        "norm": f"Normalization of MLPs: {', '.join(sorted(NORMS))} (shift: the BNN paper's "
        "shift-based BN).",
        "input_quantizer": f"Activation quantizer: {names}.",
        "weight_quantizer": f"Weight quantizer: {names}.",
    }


class _SwitchesTakeNoValue:
    """Help that shows a switch (``--resume``, ``--progress/--no-progress``) without a ``<bool>``
    value: it takes none."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class OnebitGroup(_SwitchesTakeNoValue, TyperGroup):
    """The ``onebit`` command group."""


class OnebitCommand(_SwitchesTakeNoValue, TyperCommand):
    """A subcommand whose help also lists the registered names of registry-valued options."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        if {param.name for param in self.params} & {"norm", "input_quantizer"}:
            choices = _registry_choices()
            for param in self.params:
                if param.name in choices:
                    param.help = choices[param.name]  # type: ignore[attr-defined]
        super().format_help(ctx, formatter)


def _model_args(pairs: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` model arguments; a value is read as JSON (numbers, true, lists), else text."""
    import json

    args: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.isidentifier():
            raise OnebitError(f"--model-arg takes KEY=VALUE, got {pair!r}")
        try:
            args[key] = json.loads(text)
        except json.JSONDecodeError:
            args[key] = text
    return args


def _given(**kwargs: Any) -> dict[str, Any]:
    """The options the user set (typer passes unset ones as None)."""
    return {key: value for key, value in kwargs.items() if value is not None}


@app.command()
@reports_errors
def train(
    model: Annotated[str, typer.Argument(help="Model name (see `onebit models`).")],
    data: Annotated[str, typer.Option(help="Dataset name (see `onebit datasets`).")] = "mnist5k",
    data_path: Annotated[
        Path | None, typer.Option(help="Directory of a file-based dataset.")
    ] = None,
    val_fraction: Annotated[
        float,
        typer.Option(
            help="Hold out this share of the training split as a validation split, evaluated "
            "every epoch beside the test split (fixed seeded permutation, see `onebit "
            "datasets`); 0: none. Choose settings on validation, never on test."
        ),
    ] = 0.1,
    epochs: Annotated[int, typer.Option(min=1)] = 30,
    batch_size: Annotated[int, typer.Option(min=2)] = 100,
    optimizer: Annotated[
        str, typer.Option(help="adam, adamw, adamax, sgd, shift_adamax or bop.")
    ] = "adam",
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 0.01,
    bop_gamma: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Bop's adaptivity rate (Bop only).")
    ] = None,
    bop_threshold: Annotated[
        float | None, typer.Option(min=0.0, help="Bop's flip threshold (Bop only).")
    ] = None,
    weight_decay: Annotated[float, typer.Option(min=0.0)] = 0.0,
    schedule: Annotated[
        str, typer.Option(help="constant, cosine, exponential or step (per step).")
    ] = "cosine",
    seed: int = 0,
    augment_shift: Annotated[
        int, typer.Option(min=0, help="Shift training images by up to N pixels (augmentation).")
    ] = 0,
    augment_audio: Annotated[
        bool,
        typer.Option(
            "--augment-audio",
            help="Keyword sets: make each training batch from the waveforms, shifted up to "
            "100 ms and with white or pink noise, then the log-mel (augmentation).",
        ),
    ] = False,
    teacher: Annotated[
        Path | None, typer.Option(help="Checkpoint of a trained model to distill from.")
    ] = None,
    distill_weight: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of the distillation loss.")
    ] = 1.0,
    grad_rounding_bits: Annotated[
        int | None, typer.Option(min=2, max=32, help="Stochastically round gradients to N bits.")
    ] = None,
    two_step: Annotated[
        bool, typer.Option("--two-step", help="Binary activations first, then binary weights too.")
    ] = False,
    bit_mixer: Annotated[
        bool,
        typer.Option("--bit-mixer", help="Bit-Mixer's three stages (for bitmixer-mlp)."),
    ] = False,
    mixer_samples: Annotated[
        int,
        typer.Option(
            min=0,
            help="Bit-Mixer: train the widest configuration and N drawn ones per batch "
            "(0: one drawn configuration, as the paper).",
        ),
    ] = 0,
    mixer_distill: Annotated[
        bool,
        typer.Option(
            "--mixer-distill",
            help="Bit-Mixer: the drawn configurations learn from the widest one's output.",
        ),
    ] = False,
    mixer_narrowest: Annotated[
        bool,
        typer.Option(
            "--mixer-narrowest",
            help="Bit-Mixer: the narrowest configuration is always one of the N (sandwich rule).",
        ),
    ] = False,
    mixer_stages: Annotated[
        str | None,
        typer.Option(
            help="Bit-Mixer: the three stages' relative lengths, e.g. 1,1,4 (default: thirds).",
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default runs/MODEL-DATA).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the run directory's checkpoint.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the run already in the run directory.")
    ] = False,
    hidden: Annotated[int | None, typer.Option(min=1, help="Units per hidden layer.")] = None,
    depth: Annotated[int | None, typer.Option(min=1, help="Hidden layers.")] = None,
    dropout: Annotated[float | None, typer.Option(min=0.0, max=0.99)] = None,
    norm: Annotated[str | None, typer.Option(help="Normalization of MLPs.")] = None,
    input_quantizer: Annotated[str | None, typer.Option(help="Activation quantizer.")] = None,
    weight_quantizer: Annotated[str | None, typer.Option(help="Weight quantizer.")] = None,
    model_arg: Annotated[
        list[str] | None,
        typer.Option(help="Any model argument as KEY=VALUE, e.g. width=0.5 (repeatable)."),
    ] = None,
    clip_weights: Annotated[
        bool,
        typer.Option("--clip-weights/--no-clip-weights", help="Clip latent weights each step."),
    ] = True,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="Torch threads per process.")] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show progress bars.")
    ] = True,
) -> None:
    """Train MODEL on a dataset; writes checkpoint, metrics and curves to the run directory.

    A run directory that already holds a run needs --resume (continue it) or --overwrite
    (replace it). Runs data-parallel under `torchrun --nproc_per_node=N -m onebit train ...`.
    """
    from onebit.summary import summarize
    from onebit.train import TrainConfig, fit

    config = TrainConfig(
        model=model,
        data=data,
        data_path=None if data_path is None else str(data_path),
        val_fraction=val_fraction,
        model_kwargs=_given(
            hidden=hidden,
            depth=depth,
            dropout=dropout,
            norm=norm,
            input_quantizer=input_quantizer,
            weight_quantizer=weight_quantizer,
        )
        | _model_args(model_arg),
        epochs=epochs,
        batch_size=batch_size,
        optimizer=optimizer,
        optimizer_options=_given(gamma=bop_gamma, threshold=bop_threshold),
        lr=lr,
        weight_decay=weight_decay,
        schedule=schedule,
        seed=seed,
        augment_shift=augment_shift,
        augment_audio=augment_audio,
        teacher=None if teacher is None else str(teacher),
        distill_weight=distill_weight,
        two_step=two_step,
        bit_mixer=bit_mixer,
        mixer_samples=mixer_samples,
        mixer_distill=mixer_distill,
        mixer_narrowest=mixer_narrowest,
        mixer_stages=_mixer_stages(mixer_stages, bit_mixer),
        grad_rounding_bits=grad_rounding_bits,
        clip_weights=clip_weights,
        out_dir=str(out or Path("runs") / f"{model}-{data}"),
        resume=resume,
        overwrite=overwrite,
        device=device,
        threads=threads,
        progress=progress,
    )
    result = fit(config)
    if not result.is_main:
        return
    final = result.final
    size = summarize(result.model)
    if "test_nme" in final:  # a landmark run: NME and PCK
        val = f"validation NME {final['val_nme']:.2%}, " if "val_nme" in final else ""
        from onebit.train.tasks import PCK_ALPHA

        headline = (
            f"{val}test NME [bold green]{final['test_nme']:.2%}[/] "
            f"(PCK@{PCK_ALPHA:g} {final['test_pck']:.2%})"
        )
    else:
        val = f"validation {final['val_accuracy']:.2%}, " if "val_accuracy" in final else ""
        headline = f"{val}test accuracy [bold green]{final['test_accuracy']:.2%}[/]"
    console.print(
        f"[bold]{model}[/] on {data}: {headline} "
        f"after {final['epoch']} epochs, {result.seconds_per_epoch:.2f} s/epoch\n"
        f"model size: {size.size_text()}\n"
        f"run directory: {result.out_dir}",
        highlight=False,
    )


@app.command()
@reports_errors
def summary(
    model: Annotated[str, typer.Argument(help="Model name (see `onebit models`).")],
    data: Annotated[
        str | None, typer.Option(help="Take input shape and class count from this dataset.")
    ] = None,
    data_path: Annotated[
        Path | None, typer.Option(help="Directory of a file-based dataset.")
    ] = None,
    hidden: Annotated[int | None, typer.Option(min=1)] = None,
    depth: Annotated[int | None, typer.Option(min=1)] = None,
    model_arg: Annotated[
        list[str] | None, typer.Option(help="Any model argument as KEY=VALUE (repeatable).")
    ] = None,
    energy: Annotated[
        bool,
        typer.Option(
            "--energy",
            help="Also estimate energy per inference per layer, vs the float twin, from "
            "Horowitz's 45 nm per-operation table (a model, not a measurement).",
        ),
    ] = False,
) -> None:
    """Per-layer parameters, bits, packed vs float32 memory and binary vs float MACs."""
    from onebit import data as datasets
    from onebit import models
    from onebit.summary import print_summary

    kwargs = _given(hidden=hidden, depth=depth) | _model_args(model_arg)
    if data is not None:
        splits = datasets.load(data, data_path)
        kwargs.update(
            models.data_kwargs(
                model, splits.input_shape, splits.num_outputs, getattr(splits, "vocab_size", None)
            )
        )
    summarized = print_summary(models.create(model, **kwargs), title=model)
    if energy:
        from onebit.energy import print_energy

        print_energy(summarized, title=f"{model}: energy per inference")


@app.command(name="models")
@reports_errors
def list_models(
    pattern: Annotated[str, typer.Argument(help="Shell-style filter, e.g. '*mlp'.")] = "*",
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the README's zoo table of every model.")
    ] = False,
) -> None:
    """List the registered models."""
    from onebit import models

    if markdown:
        print(models.markdown_table(), end="")
        return

    table = Table("model", "default input", "description", header_style="bold")
    for name in models.list(pattern):
        config = models.config(name)
        shape = "x".join(map(str, config.input_shape))
        table.add_row(name, f"{shape}, {config.output_count}", config.description)
    console.print(table)


@app.command()
@reports_errors
def datasets() -> None:
    """List the datasets: bundled ones, and loaders for your own files."""
    from onebit import data

    table = Table(
        "dataset",
        "needs --data-path",
        "description",
        header_style="bold",
        caption=f"Every dataset's {data.VALIDATION_RULE}; the keyword sets' "
        f"{data.KEYWORD_VALIDATION_RULE}.",
    )
    for name, description, needs_path in data.describe():
        table.add_row(name, "yes" if needs_path else "no", description)
    console.print(table)


@app.command()
@reports_errors
def convert(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint written by `onebit train`.")],
    output: Annotated[
        Path,
        typer.Option(
            "-o", "--output", help="The .onebit file to write (a directory: DIR/model.onebit)."
        ),
    ],
    input_scale: Annotated[
        float | None,
        typer.Option(
            help="With --input-zero-point: inputs are 8-bit, x = scale * (q - zero_point); the "
            "first layer (binary or k-bit weights) then runs as 8 bit-plane popcounts."
        ),
    ] = None,
    input_zero_point: Annotated[int, typer.Option(help="See --input-scale.")] = 0,
) -> None:
    """Convert a trained checkpoint into a packed .onebit program; prints each layer's bits."""
    import io

    import torch

    from onebit._cli_output import precision_table
    from onebit.convert import convert as convert_model
    from onebit.runtime.precision import op_precisions
    from onebit.summary import summarize
    from onebit.train import load_checkpoint, model_from_checkpoint
    from onebit.train.run_directory import RUN_FILES, run_files

    if output.is_dir():
        output = output / "model.onebit"
    if output.exists() and checkpoint.exists() and output.samefile(checkpoint):
        raise OnebitError(f"-o {output} is the checkpoint itself; converting would replace it")
    target = output.resolve()
    if target.name in RUN_FILES and run_files(target.parent):
        raise OnebitError(
            f"-o {output} is a file of the training run in {output.parent}; converting would "
            f"replace it (write e.g. {output.parent / 'model.onebit'} instead)"
        )
    model = model_from_checkpoint(checkpoint)
    config = load_checkpoint(checkpoint)["model_config"]
    metadata = {
        "model_config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}
    }
    quantization = None if input_scale is None else (input_scale, input_zero_point)
    if quantization is not None:
        metadata["input_quantization"] = {"scale": input_scale, "zero_point": input_zero_point}
    program = convert_model(
        model,
        torch.zeros(1, *model.input_shape, dtype=getattr(model, "input_dtype", None)),
        metadata=metadata,
        input_quantization=quantization,
    )
    try:
        program.save(output)
    except OSError as error:
        raise OnebitError(f"cannot write {output}: {error.strerror or error}") from None
    state = io.BytesIO()
    torch.save(model.state_dict(), state)
    size, float_size = output.stat().st_size, state.getbuffer().nbytes
    binarized = summarize(model).binary_params > 0
    ratio = f"{float_size / size:.1f}x smaller" if binarized else "not binarized"
    console.print(
        f"wrote {output}: {size / 1e6:.3f} MB vs {float_size / 1e6:.3f} MB float32 state dict "
        f"({ratio}); {len(program.ops)} ops: " + ", ".join(op.type for op in program.ops),
        highlight=False,
    )
    console.print(precision_table(op_precisions(program.ops), "Bits per layer"))
    if program.switches:
        console.print(
            "switchable layer widths (onebit run --bits): "
            + "; ".join(
                f"{switch.name} in {list(switch.options)} (default {switch.default})"
                for switch in program.switches
            ),
            highlight=False,
        )


@app.command()
@reports_errors
def run(
    program_path: Annotated[Path, typer.Argument(help="A .onebit program.")],
    data: Annotated[str, typer.Option(help="Dataset whose test split to run.")] = "mnist5k",
    data_path: Annotated[
        Path | None, typer.Option(help="Directory of a file-based dataset.")
    ] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Kernel threads.")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 256,
    compare_checkpoint: Annotated[
        Path | None,
        typer.Option(
            help="The checkpoint the program was converted from: count the test samples the "
            "two classify differently (needs torch)."
        ),
    ] = None,
    bits: Annotated[
        str | None,
        typer.Option(
            help="A switched (Bit-Mixer) program's layer widths: 4 (every layer), 2,3,4 (one "
            "per switch, in order) or NAME=WIDTH pairs (the rest at their defaults)."
        ),
    ] = None,
) -> None:
    """Run a packed program on a dataset's test split: accuracy and latency (no torch needed)."""
    import time

    from onebit import data as datasets
    from onebit import runtime
    from onebit.bench.timing import median_seconds

    if threads is not None and runtime.BACKEND != "reference":
        from onebit.runtime import _native

        _native.set_num_threads(threads)
    from onebit.runtime.switches import parse_bits

    program = runtime.load(program_path, bits=None if bits is None else parse_bits(bits))
    splits = datasets.load(data, data_path)
    if not isinstance(splits, (datasets.DataSplits, datasets.TextSplits)):
        raise OnebitError(
            f"onebit run measures accuracy on a class dataset; {data} is a landmark set "
            "(decode a program's heatmaps with onebit.landmarks.decode_heatmaps)"
        )
    if splits.input_shape != program.input_shape:
        raise OnebitError(
            f"{program_path} takes inputs of shape {program.input_shape}, but {data} has "
            f"{splits.input_shape}"
        )
    if len(program.output_shape) != 1 or program.output_dtype.kind not in "fi":
        shape = ", ".join(map(str, program.output_shape))
        raise OnebitError(
            f"accuracy needs a classifier whose output is (N, classes), but {program_path} "
            f"outputs {program.output_dtype} values of shape (N, {shape})"
        )
    started = time.perf_counter()
    predicted = program.predict(splits.x_test, batch_size)
    seconds = time.perf_counter() - started
    accuracy = float((predicted == splits.y_test).mean())
    one = splits.x_test[:1]
    latency = median_seconds(lambda: program(one), repeat=50, min_seconds=0.01)
    console.print(
        f"{program_path} on {data} test split ({len(predicted)} samples): accuracy "
        f"[bold green]{accuracy:.2%}[/]; batch-1 latency {latency * 1e3:.3f} ms; "
        f"{len(predicted) / seconds:,.0f} samples/s at batch {batch_size} "
        f"(kernels: {runtime.BACKEND})"
        + (f"; layer widths {list(program.bits)}" if program.switches else ""),
        highlight=False,
    )
    if compare_checkpoint is not None:
        from onebit.convert.agreement import torch_predictions

        expected = torch_predictions(
            compare_checkpoint,
            splits.x_test,
            batch_size,
            bits=program.bits if program.switches else None,
        )
        differ = int((expected != predicted).sum())
        console.print(
            f"packed program vs PyTorch eval of {compare_checkpoint}: {differ:,} of "
            f"{len(predicted):,} test samples classified differently",
            highlight=False,
        )


@app.command()
@reports_errors
def profile(
    program_path: Annotated[Path, typer.Argument(help="A .onebit program.")],
    threads: Annotated[int | None, typer.Option(min=1, help="Kernel threads.")] = None,
    batch: Annotated[int, typer.Option(min=1, help="Samples per call.")] = 1,
    repeats: Annotated[
        int, typer.Option(min=1, max=100_000, help="Calls to take the median of.")
    ] = 20,
) -> None:
    """Time each op of a packed program: type, output shape, µs, share and GMAC/s (no torch)."""
    from onebit import runtime
    from onebit.runtime.profile import print_profile, profile_program

    program = runtime.load(program_path)
    rows = profile_program(program, threads=threads or 0, repeats=repeats, batch=batch)
    from onebit.runtime import _native

    count = threads or _native.get_num_threads()
    title = f"{program_path}: batch {batch}, {count} thread(s), median of {repeats} calls"
    print_profile(rows, console, title)


app.add_typer(bench_app, name="bench")

export_app = typer.Typer(help="Turn a packed program into code for other targets.")
app.add_typer(export_app, name="export")


@export_app.command(name="c")
@reports_errors
def export_c(
    program_path: Annotated[Path, typer.Argument(help="A .onebit program.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Directory for NAME.h and NAME.c.")
    ],
    name: Annotated[
        str | None,
        typer.Option(help="C prefix of every symbol and the files' name (default: the stem)."),
    ] = None,
    input_scale: Annotated[
        float, typer.Option(help="NAME_run_u8 reads byte q as (q - zero point) * scale.")
    ] = 1.0 / 255.0,
    input_zero_point: Annotated[float, typer.Option(help="See --input-scale.")] = 0.0,
) -> None:
    """Write the program as dependency-free C99 for microcontrollers (static arena, no malloc)."""
    from onebit.export import to_c

    result = to_c(program_path, output, name, input_scale, input_zero_point)
    console.print(
        f"wrote {result.header} and {result.source}: {result.const_bytes:,} bytes of constants "
        f"(flash), a {result.arena_bytes:,}-byte arena (RAM); kernels: "
        + ", ".join(result.kernels),
        highlight=False,
    )


app.add_typer(search_app, name="search")

experiment_app = typer.Typer(help="Experiments that train many runs and write a report.")
app.add_typer(experiment_app, name="experiment")


def _mixer_stages(given: str | None, bit_mixer: bool) -> tuple[int, ...]:
    from onebit.train.bit_mixer import EQUAL_STAGES, check_stage_weights

    if given is None:
        return EQUAL_STAGES
    if not bit_mixer:
        raise OnebitError("--mixer-stages sets the lengths of Bit-Mixer's stages: add --bit-mixer")
    try:
        weights = [int(w) for w in given.split(",")]
    except ValueError:
        raise OnebitError(
            f"--mixer-stages must be three comma-separated integers, got {given!r}"
        ) from None
    return check_stage_weights(weights)


def _seed_list(seeds: str) -> list[int]:
    try:
        return [int(s) for s in seeds.split(",")]
    except ValueError:
        raise OnebitError(f"--seeds must be comma-separated integers, got {seeds!r}") from None


def _load_report(path: Path) -> dict[str, Any]:
    import json

    try:
        report = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise OnebitError(f"{path} is not a JSON report: {error}") from None
    missing = [key for key in ("command", "machine", "summary") if key not in report]
    if not isinstance(report, dict) or missing:
        raise OnebitError(f"{path} is not a report of this experiment (no {missing or 'fields'})")
    return report


@experiment_app.command()
@reports_errors
def ablation(
    data: Annotated[str, typer.Option(help="mnist5k or digits.")] = "mnist5k",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    epochs: Annotated[int, typer.Option(min=2)] = 30,
    hidden: Annotated[int, typer.Option(min=1, help="Units per hidden layer.")] = 1024,
    variants: Annotated[
        str | None, typer.Option(help="Comma-separated subset of the variants (default all).")
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Where the report goes (`--out docs` remakes the project's).")
    ] = Path("runs/ablation"),
    work_dir: Annotated[Path, typer.Option(help="Run directories (teachers).")] = Path(
        "runs/ablation"
    ),
    update: Annotated[
        bool,
        typer.Option("--update", help="Replace only these variants' rows in the existing report."),
    ] = False,
    from_json: Annotated[
        Path | None,
        typer.Option(help="Re-render the Markdown and plot of a saved JSON report into --out."),
    ] = None,
) -> None:
    """The baseline recipe with each training technique swapped in, over several seeds.

    Reports validation and test accuracy; Bop's gamma and threshold are chosen on validation.
    """
    import shlex

    from onebit.experiments.ablation import (
        VARIANTS,
        merge_results,
        render_report,
        run_ablation,
        write_report,
    )

    if from_json is not None:
        for path in render_report(_load_report(from_json), out):
            console.print(f"wrote {path}", highlight=False)
        return
    known = [v.name for v in VARIANTS]
    chosen = None if variants is None else [v.strip() for v in variants.split(",")]
    unknown = [v for v in chosen or [] if v not in known]
    if unknown:
        raise OnebitError(f"unknown variant(s) {unknown}; known: {', '.join(known)}")
    seed_list = _seed_list(seeds)
    started = Provenance.start()
    result = run_ablation(
        data,
        seed_list,
        epochs,
        chosen,
        work_dir,
        log=lambda line: console.print(line, highlight=False),
        hidden=hidden,
    )
    words = ["onebit", "experiment", "ablation", "--data", data, "--seeds", seeds]
    words += ["--epochs", str(epochs), *(["--hidden", str(hidden)] if hidden != 1024 else [])]
    words += [*(["--variants", variants] if variants else []), "--out", str(out)]
    command = shlex.join(words)
    if update:
        report = out / f"ablation-{data}.json"
        if not report.exists():
            raise OnebitError(f"--update needs an existing report, and {report} does not exist")
        previous = _load_report(report)
        result = merge_results(previous, result)
        command = previous.get("command", command)  # the command that remakes every row
    measured = started.finish(torch_threads())
    for path in write_report(result, out, command, measured):
        console.print(f"wrote {path}", highlight=False)


@experiment_app.command()
@reports_errors
def accuracy(
    data: Annotated[
        str | None, typer.Option(help="Comma-separated datasets (default mnist5k,digits).")
    ] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds of the final runs.")] = "0,1,2",
    epochs: Annotated[int, typer.Option(min=1)] = 30,
    hidden: Annotated[int, typer.Option(min=1, help="Units per hidden layer.")] = 1024,
    out: Annotated[
        Path, typer.Option(help="Where the report goes (`--out docs` remakes the project's).")
    ] = Path("runs/accuracy"),
    from_json: Annotated[
        Path | None, typer.Option(help="Re-render the Markdown of a saved JSON report into --out.")
    ] = None,
) -> None:
    """binarynet-mlp against its float twin, whose recipe is chosen on validation.

    Reports validation and test accuracy over seeds, the float candidates tried, and the gap
    to the float twin on test means.
    """
    import shlex

    from onebit.experiments.accuracy import DATA_RECIPES, render_report, run_accuracy, write_report

    if from_json is not None:
        path = render_report(_load_report(from_json), out)
        console.print(f"wrote {path}", highlight=False)
        return
    names = list(DATA_RECIPES) if data is None else [d.strip() for d in data.split(",")]
    unknown = [d for d in names if d not in DATA_RECIPES]
    if unknown:
        raise OnebitError(f"unknown dataset(s) {unknown}; known: {', '.join(DATA_RECIPES)}")
    started = Provenance.start()
    result = run_accuracy(
        names,
        _seed_list(seeds),
        epochs,
        hidden,
        log=lambda line: console.print(line, highlight=False),
    )
    words = ["onebit", "experiment", "accuracy", "--seeds", seeds, "--epochs", str(epochs)]
    words += [*(["--data", data] if data else []), "--out", str(out)]
    words += ["--hidden", str(hidden)] if hidden != 1024 else []
    measured = started.finish(torch_threads())
    for path in write_report(result, out, shlex.join(words), measured):
        console.print(f"wrote {path}", highlight=False)


@experiment_app.command()
@reports_errors
def mcu(
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds of the final runs.")] = "0,1,2",
    epochs: Annotated[int, typer.Option(min=1)] = 60,
    work_dir: Annotated[
        Path, typer.Option(help="Where each seed's program and C go (seed{N}/).")
    ] = Path("runs/mcu"),
    out: Annotated[
        Path, typer.Option(help="Where the report goes (`--out docs` remakes the project's).")
    ] = Path("runs/mcu"),
    from_json: Annotated[
        Path | None, typer.Option(help="Re-render the Markdown of a saved JSON report into --out.")
    ] = None,
) -> None:
    """mcu-bnn on mnist5k: settings chosen on validation, then each seed's model, program and
    exported C on the test split."""
    import shlex

    from onebit.experiments.mcu import render_report, run_mcu_accuracy, write_report

    if from_json is not None:
        console.print(f"wrote {render_report(_load_report(from_json), out)}", highlight=False)
        return
    started = Provenance.start()
    result = run_mcu_accuracy(
        _seed_list(seeds), epochs, work_dir, log=lambda line: console.print(line, highlight=False)
    )
    words = ["onebit", "experiment", "mcu", "--seeds", seeds, "--epochs", str(epochs)]
    words += ["--work-dir", str(work_dir), "--out", str(out)]
    measured = started.finish(torch_threads())
    for path in write_report(result, out, shlex.join(words), measured):
        console.print(f"wrote {path}", highlight=False)


@experiment_app.command()
@reports_errors
def bitmixer(
    data: Annotated[str, typer.Option(help="mnist5k or digits.")] = "mnist5k",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds of the final runs.")] = "0,1,2",
    epochs: Annotated[
        int,
        typer.Option(min=3, help="Every network trains this or twice this many (on validation)."),
    ] = 30,
    hidden: Annotated[int, typer.Option(min=1, help="Units per hidden layer.")] = 256,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate/--no-calibrate",
            help="Recompute every network's batch-norm statistics on the training split.",
        ),
    ] = False,
    augment_shift: Annotated[
        int, typer.Option(min=0, help="Shift every network's training images by up to N pixels.")
    ] = 0,
    out: Annotated[
        Path, typer.Option(help="Where the report goes (`--out docs` remakes the project's).")
    ] = Path("runs/bitmixer"),
    from_json: Annotated[
        Path | None, typer.Option(help="Re-render the Markdown of a saved JSON report into --out.")
    ] = None,
) -> None:
    """Bit-Mixer's network at each bit-width setting vs a network trained at that setting."""
    import shlex

    from onebit.experiments.bitmixer import render_report, run_bitmixer, write_report

    if from_json is not None:
        console.print(f"wrote {render_report(_load_report(from_json), out)}", highlight=False)
        return
    started = Provenance.start()
    result = run_bitmixer(
        data,
        _seed_list(seeds),
        epochs,
        hidden,
        log=lambda line: console.print(line, highlight=False),
        calibrated=calibrate,
        augment_shift=augment_shift,
    )
    words = ["onebit", "experiment", "bitmixer", "--data", data, "--seeds", seeds]
    words += ["--epochs", str(epochs), "--hidden", str(hidden), "--out", str(out)]
    words += ["--calibrate"] if calibrate else []
    words += ["--augment-shift", str(augment_shift)] if augment_shift else []
    measured = started.finish(torch_threads())
    for path in write_report(result, out, shlex.join(words), measured):
        console.print(f"wrote {path}", highlight=False)


@experiment_app.command()
@reports_errors
def dybnn(
    data: Annotated[str, typer.Option(help="mnist5k or digits.")] = "mnist5k",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds of the final runs.")] = "0,1,2",
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    out: Annotated[
        Path, typer.Option(help="Where the report goes (`--out docs` remakes the project's).")
    ] = Path("runs/dybnn"),
    from_json: Annotated[
        Path | None, typer.Option(help="Re-render the Markdown of a saved JSON report into --out.")
    ] = None,
) -> None:
    """DyBNN's dynamic sign and PReLU against ReActNet's static ones (dybnn-mini vs
    reactnet-mini): accuracy over seeds, the programs' agreement and batch-1 latency."""
    import shlex

    from onebit.experiments.dybnn import render_report, run_dybnn, write_report

    if from_json is not None:
        console.print(f"wrote {render_report(_load_report(from_json), out)}", highlight=False)
        return
    started = Provenance.start()
    result = run_dybnn(
        data, _seed_list(seeds), epochs, log=lambda line: console.print(line, highlight=False)
    )
    words = ["onebit", "experiment", "dybnn", "--data", data, "--seeds", seeds]
    words += ["--epochs", str(epochs), "--out", str(out)]
    measured = started.finish(result["threads"])
    for path in write_report(result, out, shlex.join(words), measured):
        console.print(f"wrote {path}", highlight=False)


@experiment_app.command()
@reports_errors
def landmarks(
    data: Annotated[str, typer.Option(help="A landmark set, e.g. mnist-landmarks.")] = (
        "mnist-landmarks"
    ),
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds of the final runs.")] = "0,1,2",
    epochs: Annotated[int, typer.Option(min=1)] = 15,
    out: Annotated[
        Path, typer.Option(help="Where the report goes (`--out docs` remakes the project's).")
    ] = Path("runs/landmarks"),
    from_json: Annotated[
        Path | None, typer.Option(help="Re-render the Markdown of a saved JSON report into --out.")
    ] = None,
) -> None:
    """The binary landmark hourglass against its float twin: NME and PCK over seeds, the
    programs' agreement and batch-1 latency."""
    import shlex

    from onebit.experiments.landmarks import render_report, run_landmarks, write_report

    if from_json is not None:
        console.print(f"wrote {render_report(_load_report(from_json), out)}", highlight=False)
        return
    started = Provenance.start()
    result = run_landmarks(
        data, _seed_list(seeds), epochs, log=lambda line: console.print(line, highlight=False)
    )
    words = ["onebit", "experiment", "landmarks", "--data", data, "--seeds", seeds]
    words += ["--epochs", str(epochs), "--out", str(out)]
    measured = started.finish(result["threads"])
    for path in write_report(result, out, shlex.join(words), measured):
        console.print(f"wrote {path}", highlight=False)


@experiment_app.command(name="bats")
@reports_errors
def bats_experiment(
    genotype: Annotated[
        Path | None, typer.Option(help="The searched genotype (`onebit search bats` wrote it).")
    ] = None,
    data: Annotated[str, typer.Option(help="A classification dataset.")] = "mnist5k",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds of the final runs.")] = "0,1,2",
    epochs: Annotated[int, typer.Option(min=1)] = 8,
    out: Annotated[
        Path, typer.Option(help="Where the report goes (`--out docs` remakes the project's).")
    ] = Path("runs/bats"),
    from_json: Annotated[
        Path | None, typer.Option(help="Re-render the Markdown of a saved JSON report into --out.")
    ] = None,
) -> None:
    """A searched BATS network against a hand-designed binary CNN of about the same binary
    operation count: accuracy over seeds, the programs' agreement and batch-1 latency."""
    import shlex

    from onebit.experiments.bats import render_report, run_bats_report, write_report

    if from_json is not None:
        console.print(f"wrote {render_report(_load_report(from_json), out)}", highlight=False)
        return
    if genotype is None:
        raise OnebitError("give --genotype (a file `onebit search bats` wrote) or --from-json")
    started = Provenance.start()
    result = run_bats_report(
        genotype,
        data,
        _seed_list(seeds),
        epochs,
        log=lambda line: console.print(line, highlight=False),
    )
    words = ["onebit", "experiment", "bats", "--genotype", str(genotype), "--data", data]
    words += ["--seeds", seeds, "--epochs", str(epochs), "--out", str(out)]
    measured = started.finish(result["threads"])
    for path in write_report(result, out, shlex.join(words), measured):
        console.print(f"wrote {path}", highlight=False)


@experiment_app.command(name="text")
@reports_errors
def text_experiment(
    data: Annotated[str, typer.Option(help="A text classification dataset.")] = "debian-packages",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds of the final runs.")] = "0,1,2",
    epochs: Annotated[int, typer.Option(min=1)] = 5,
    out: Annotated[
        Path, typer.Option(help="Where the report goes (`--out docs` remakes the project's).")
    ] = Path("runs/text"),
    from_json: Annotated[
        Path | None, typer.Option(help="Re-render the Markdown of a saved JSON report into --out.")
    ] = None,
) -> None:
    """The binary text CNN against its float twin: accuracy over seeds, size packed vs float32,
    the programs' agreement and batch-1 latency."""
    import shlex

    from onebit.experiments.text import render_report, run_text_report, write_report

    if from_json is not None:
        console.print(f"wrote {render_report(_load_report(from_json), out)}", highlight=False)
        return
    started = Provenance.start()
    result = run_text_report(
        data, _seed_list(seeds), epochs, log=lambda line: console.print(line, highlight=False)
    )
    words = ["onebit", "experiment", "text", "--data", data, "--seeds", seeds]
    words += ["--epochs", str(epochs), "--out", str(out)]
    measured = started.finish(result["threads"])
    for path in write_report(result, out, shlex.join(words), measured):
        console.print(f"wrote {path}", highlight=False)


@experiment_app.command(name="speech")
@reports_errors
def speech_experiment(
    data: Annotated[str, typer.Option(help="A keyword dataset.")] = "spoken-digits",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds of the final runs.")] = "0,1,2",
    epochs: Annotated[int, typer.Option(min=1)] = 15,
    out: Annotated[
        Path, typer.Option(help="Where the report goes (`--out docs` remakes the project's).")
    ] = Path("runs/speech"),
    from_json: Annotated[
        Path | None, typer.Option(help="Re-render the Markdown of a saved JSON report into --out.")
    ] = None,
) -> None:
    """The binary keyword spotter against its float twin on unheard voices: accuracy over
    seeds, size packed vs float32, the programs' agreement and latency per one-second clip."""
    import shlex

    from onebit.experiments.speech import render_report, run_speech_report, write_report

    if from_json is not None:
        console.print(f"wrote {render_report(_load_report(from_json), out)}", highlight=False)
        return
    started = Provenance.start()
    result = run_speech_report(
        data, _seed_list(seeds), epochs, log=lambda line: console.print(line, highlight=False)
    )
    words = ["onebit", "experiment", "speech", "--data", data, "--seeds", seeds]
    words += ["--epochs", str(epochs), "--out", str(out)]
    measured = started.finish(result["threads"])
    for path in write_report(result, out, shlex.join(words), measured):
        console.print(f"wrote {path}", highlight=False)


app.info.cls = experiment_app.info.cls = bench_app.info.cls = export_app.info.cls = OnebitGroup
search_app.info.cls = OnebitGroup
for _command in (
    *app.registered_commands,
    *experiment_app.registered_commands,
    *bench_app.registered_commands,
    *export_app.registered_commands,
    *search_app.registered_commands,
):
    if _command.cls in (None, TyperCommand):
        _command.cls = OnebitCommand


def torch_threads() -> int:
    """The thread count torch trained with (the experiments' own load on the machine)."""
    import torch

    return torch.get_num_threads()


def main() -> None:
    """Entry point of ``python -m onebit``."""
    app(prog_name="onebit")


if __name__ == "__main__":
    sys.exit(main())
