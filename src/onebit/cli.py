"""The ``onebit`` command line. Each subcommand is a thin call into the library."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from onebit._registry import OnebitError

app = typer.Typer(
    name="onebit",
    help="Binary neural networks: train, summarize and (soon) pack and run them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(soft_wrap=True)
if not console.is_terminal:  # logs and pipes: room for the tables instead of 80 columns
    console.width = 132
errors = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(command: F) -> F:
    """Turn an OnebitError or an OSError (a missing file, a full disk) into one line on stderr
    and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (OnebitError, OSError) as error:
            errors.print(f"[bold red]error:[/] {error}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            errors.print("interrupted; the last finished epoch's checkpoint is kept")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


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
        bool, typer.Option(help="Binary activations first, then binary weights too.")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default runs/MODEL-DATA).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue from the run directory's checkpoint.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the run already in the run directory.")
    ] = False,
    hidden: Annotated[int | None, typer.Option(min=1, help="Units per hidden layer.")] = None,
    depth: Annotated[int | None, typer.Option(min=1, help="Hidden layers.")] = None,
    dropout: Annotated[float | None, typer.Option(min=0.0, max=0.99)] = None,
    norm: Annotated[
        str | None, typer.Option(help="batch, or shift (the BNN paper's shift-based BN).")
    ] = None,
    input_quantizer: Annotated[str | None, typer.Option(help="Activation quantizer.")] = None,
    weight_quantizer: Annotated[str | None, typer.Option(help="Weight quantizer.")] = None,
    model_arg: Annotated[
        list[str] | None,
        typer.Option(help="Any model argument as KEY=VALUE, e.g. width=0.5 (repeatable)."),
    ] = None,
    clip_weights: Annotated[bool, typer.Option(help="Clip latent weights each step.")] = True,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "auto",
    threads: Annotated[int | None, typer.Option(min=1, help="Torch threads per process.")] = None,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
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
        teacher=None if teacher is None else str(teacher),
        distill_weight=distill_weight,
        two_step=two_step,
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
    console.print(
        f"[bold]{model}[/] on {data}: test accuracy [bold green]{final['test_accuracy']:.2%}[/] "
        f"after {final['epoch']} epochs, {result.seconds_per_epoch:.2f} s/epoch\n"
        f"model size: {size.packed_bytes / 1e6:.3f} MB with 1-bit weights packed vs "
        f"{size.float32_bytes / 1e6:.3f} MB float32 ({size.compression:.1f}x smaller)\n"
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
) -> None:
    """Per-layer parameters, bits, packed vs float32 memory and binary vs float MACs."""
    from onebit import data as datasets
    from onebit import models
    from onebit.summary import print_summary

    kwargs = _given(hidden=hidden, depth=depth) | _model_args(model_arg)
    if data is not None:
        splits = datasets.load(data, data_path)
        kwargs.update(models.data_kwargs(model, splits.input_shape, splits.num_classes))
    print_summary(models.create(model, **kwargs), title=model)


@app.command(name="models")
@reports_errors
def list_models(
    pattern: Annotated[str, typer.Argument(help="Shell-style filter, e.g. '*mlp'.")] = "*",
) -> None:
    """List the registered models."""
    from onebit import models

    table = Table("model", "description", header_style="bold")
    for name in models.list(pattern):
        doc = (models.MODELS.builder(name).__doc__ or "").strip().splitlines()
        table.add_row(name, doc[0] if doc else "")
    console.print(table)


@app.command()
@reports_errors
def datasets() -> None:
    """List the datasets: bundled ones, and loaders for your own files."""
    from onebit import data

    table = Table("dataset", "needs --data-path", "description", header_style="bold")
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
) -> None:
    """Convert a trained checkpoint into a packed .onebit program."""
    import io

    import torch

    from onebit.convert import convert as convert_model
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
    program = convert_model(model, torch.zeros(1, *model.input_shape), metadata=metadata)
    try:
        program.save(output)
    except OSError as error:
        raise OnebitError(f"cannot write {output}: {error.strerror or error}") from None
    state = io.BytesIO()
    torch.save(model.state_dict(), state)
    size, float_size = output.stat().st_size, state.getbuffer().nbytes
    console.print(
        f"wrote {output}: {size / 1e6:.3f} MB vs {float_size / 1e6:.3f} MB float32 state dict "
        f"({float_size / size:.1f}x smaller); {len(program.ops)} ops: "
        + ", ".join(op.type for op in program.ops),
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
) -> None:
    """Run a packed program on a dataset's test split: accuracy and latency (no torch needed)."""
    import time

    from onebit import data as datasets
    from onebit import runtime
    from onebit.bench.timing import median_seconds

    if threads is not None and runtime.BACKEND != "reference":
        from onebit.runtime import _native

        _native.set_num_threads(threads)
    program = runtime.load(program_path)
    splits = datasets.load(data, data_path)
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
        f"{program_path} on {data} test split ({len(predicted)} images): accuracy "
        f"[bold green]{accuracy:.2%}[/]; batch-1 latency {latency * 1e3:.3f} ms; "
        f"{len(predicted) / seconds:,.0f} images/s at batch {batch_size} "
        f"(kernels: {runtime.BACKEND})",
        highlight=False,
    )


bench_app = typer.Typer(
    help="Time the packed engine against PyTorch on the same shapes, in the same run. Each "
    "benchmark writes a JSON result (machine, commit, load, SIMD path) to --out, by default the "
    "project's report docs/NAME.json, and a Markdown report rendered from it beside it.",
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")

FromJson = Annotated[
    Path | None,
    typer.Option(
        "--from-json",
        help="Measure nothing: re-render the Markdown report of this stored result, beside it.",
    ),
]
Threads = Annotated[list[int] | None, typer.Option("--threads", help="A thread count (repeat).")]
Pause = Annotated[
    float | None, typer.Option(min=0, help="Seconds of busy pause after each torch timing.")
]


def _out_option(default: str) -> Any:
    return typer.Option(help=f"Where the JSON result goes (the .md beside it); default {default}.")


def _words(**options: Any) -> list[str]:
    """The command-line words of the options the user set, for the report's "Remake with"."""
    words: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        for item in value if isinstance(value, list) else [value]:
            if item is True:
                words.append(flag)
            elif item is not None and item is not False:
                words += [flag, str(item)]
    return words


def _bench(
    name: str,
    out: Path,
    from_json: Path | None,
    words: list[str],
    measure: Callable[[], dict[str, Any]],
    show: Callable[[dict[str, Any], Any], None],
    threads: int,
) -> dict[str, Any] | None:
    """Re-render ``from_json``, or measure with provenance, print, and publish to ``out``."""
    import shlex

    from onebit.bench.provenance import Provenance
    from onebit.bench.report import publish, rerender

    if from_json is not None:
        console.print(f"wrote {rerender(from_json, name)}", highlight=False)
        return None
    provenance = Provenance.start()
    result = measure()
    finished = provenance.finish(threads=threads)
    show(result, console)
    command = shlex.join(["onebit", "bench", name, *words])
    json_path, report = publish(name, result, out, command, finished)
    console.print(f"wrote {json_path} and {report}", highlight=False)
    if finished["warning"]:
        errors.print(f"warning: {finished['warning']}", highlight=False)
    return result


def _shape(text: str) -> tuple[int, int, int]:
    try:
        m, k, n = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise OnebitError(f"--shape takes MxKxN (e.g. 64x4096x4096), got {text!r}") from None
    if min(m, k, n) < 1:
        raise OnebitError(f"--shape sizes must be at least 1, got {text!r}")
    return m, k, n


def _thread_counts(threads: list[int] | None, default: tuple[int, ...]) -> tuple[int, ...]:
    counts = tuple(threads or default)
    if min(counts) < 1:
        raise OnebitError(f"--threads must be at least 1, got {list(counts)}")
    return counts


@bench_app.command("bgemm")
@reports_errors
def bench_bgemm(
    out: Annotated[Path, _out_option("docs/bgemm.json")] = Path("docs/bgemm.json"),
    threads: Threads = None,
    shape: Annotated[
        list[str] | None, typer.Option(help="MxKxN (repeat); default the report's shapes.")
    ] = None,
    pause: Pause = None,
    from_json: FromJson = None,
) -> None:
    """bgemm vs torch fp32 (matmul, oneDNN) and int8 dynamic Linear."""
    from onebit.bench import bgemm

    counts = _thread_counts(threads, bgemm.THREADS)
    shapes = tuple(_shape(text) for text in shape) if shape else bgemm.SHAPES
    _bench(
        "bgemm",
        out,
        from_json,
        _words(out=str(out), threads=threads, shape=shape, pause=pause),
        lambda: bgemm.benchmark_bgemm(shapes, counts, bgemm.PAUSE_S if pause is None else pause),
        bgemm.print_bgemm,
        max(counts),
    )


@bench_app.command("bconv2d")
@reports_errors
def bench_bconv2d(
    out: Annotated[Path, _out_option("docs/bconv2d.json")] = Path("docs/bconv2d.json"),
    quick: Annotated[
        bool, typer.Option("--quick", help="One small conv: checks the run, not a figure.")
    ] = False,
    pause: Pause = None,
    from_json: FromJson = None,
) -> None:
    """bconv2d variants vs torch fp32 conv2d (faster memory format)."""
    from onebit.bench import bconv2d

    convs = bconv2d.QUICK_CONVS if quick else bconv2d.CONVS
    _bench(
        "bconv2d",
        out,
        from_json,
        _words(out=str(out), quick=quick, pause=pause),
        lambda: bconv2d.benchmark_bconv2d(convs, bconv2d.PAUSE_S if pause is None else pause),
        bconv2d.print_bconv2d,
        max(count for conv in convs for count in conv[-1]),
    )


@bench_app.command("zoo")
@reports_errors
def bench_zoo(
    out: Annotated[Path, _out_option("docs/zoo.json")] = Path("docs/zoo.json"),
    model: Annotated[list[str] | None, typer.Option(help="A zoo model (repeat).")] = None,
    threads: Threads = None,
    input_size: Annotated[int, typer.Option(min=16)] = 224,
    rounds: Annotated[int, typer.Option(min=1)] = 15,
    pause: Pause = None,
    baseline: Annotated[
        list[str] | None,
        typer.Option(help="A torch ResNet-18 setup to try (repeat); default all."),
    ] = None,
    from_json: FromJson = None,
) -> None:
    """Zoo models packed vs the fastest torch fp32 ResNet-18 setup, batch 1."""
    from onebit.bench import zoo

    counts = _thread_counts(threads, (1, 2))
    unknown = [name for name in baseline or [] if name not in zoo.BASELINE_SETUPS]
    if unknown:
        raise OnebitError(f"unknown --baseline {unknown}; known: {', '.join(zoo.BASELINE_SETUPS)}")
    words = _words(out=str(out), model=model, threads=threads, baseline=baseline, pause=pause)
    words += _words(input_size=input_size if input_size != 224 else None)
    words += _words(rounds=rounds if rounds != 15 else None)
    _bench(
        "zoo",
        out,
        from_json,
        words,
        lambda: zoo.benchmark_zoo(
            model or zoo.BENCH_MODELS,
            counts,
            input_size,
            zoo.PAUSE_S if pause is None else pause,
            rounds,
            baseline or zoo.BASELINE_SETUPS,
        ),
        zoo.print_zoo,
        max(counts),
    )


@bench_app.command("mlp")
@reports_errors
def bench_mlp(
    out: Annotated[Path, _out_option("docs/mlp_engine.json")] = Path("docs/mlp_engine.json"),
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="A trained binarynet-mlp checkpoint; without it, an untrained one."),
    ] = None,
    threads: Threads = None,
    pause: Pause = None,
    from_json: FromJson = None,
) -> None:
    """binarynet-mlp packed vs its float twin (headline) and torch eval of itself, batch 1.

    Without --checkpoint it times an untrained model of the same shape and says so: latency
    does not depend on the weights, and no accuracy is reported.
    """
    from onebit.bench import mlp

    counts = _thread_counts(threads, (1, 2))
    _bench(
        "mlp",
        out,
        from_json,
        _words(out=str(out), checkpoint=checkpoint, threads=threads, pause=pause),
        lambda: mlp.benchmark_mlp(
            None if checkpoint is None else str(checkpoint),
            counts,
            mlp.PAUSE_S if pause is None else pause,
        ),
        mlp.print_mlp,
        max(counts),
    )


@bench_app.command("fuzz")
@reports_errors
def bench_fuzz(
    out: Annotated[Path, _out_option("docs/fuzz.json")] = Path("docs/fuzz.json"),
    cases: Annotated[int, typer.Option(min=1)] = 100_000,
    seed: Annotated[int, typer.Option(help="The run's seed.")] = 0,
    start: Annotated[int, typer.Option(min=0, help="The first case index.")] = 0,
    jobs: Annotated[int, typer.Option(min=1, help="Workers side by side.")] = 1,
    chunk: Annotated[int, typer.Option(min=1, help="Cases per progress line.")] = 5000,
    timeout: Annotated[float, typer.Option(min=0.001, help="Seconds before a hang.")] = 20.0,
    seed_file: Annotated[
        list[Path] | None, typer.Option(help="A .onebit file to mutate too (repeat).")
    ] = None,
    converted: Annotated[
        bool, typer.Option("--converted", help="Also mutate two small converted models.")
    ] = False,
    keep: Annotated[Path | None, typer.Option(help="Save failing files here.")] = None,
    from_json: FromJson = None,
) -> None:
    """Fuzz the .onebit loader with mutated files; exit status 1 if any case failed."""
    from onebit.runtime.fuzz.campaign import run_campaign

    words = _words(out=str(out), cases=cases, jobs=jobs, seed=seed, converted=converted)
    words += _words(start=start or None, chunk=chunk if chunk != 5000 else None)
    words += _words(timeout=timeout if timeout != 20.0 else None, seed_file=seed_file, keep=keep)
    result = _bench(
        "fuzz",
        out,
        from_json,
        words,
        lambda: run_campaign(
            cases,
            seed,
            start,
            jobs,
            chunk,
            timeout,
            seed_file,
            converted,
            keep,
            log=lambda line: console.print(line, highlight=False, markup=False),
        ),
        lambda result, console: None,
        jobs,
    )
    if result is not None and result["failures"]:
        raise typer.Exit(1)


experiment_app = typer.Typer(help="Experiments that train many runs and write a report.")
app.add_typer(experiment_app, name="experiment")


@experiment_app.command()
@reports_errors
def ablation(
    data: Annotated[str, typer.Option(help="mnist5k or digits.")] = "mnist5k",
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds.")] = "0,1,2",
    epochs: Annotated[int, typer.Option(min=2)] = 30,
    variants: Annotated[
        str | None, typer.Option(help="Comma-separated subset of the variants (default all).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where the report goes.")] = Path("docs"),
    work_dir: Annotated[Path, typer.Option(help="Run directories (teachers).")] = Path(
        "runs/ablation"
    ),
    update: Annotated[
        bool, typer.Option(help="Replace only these variants' rows in the existing report.")
    ] = False,
) -> None:
    """The baseline recipe with each training technique swapped in, over several seeds."""
    import json
    import shlex

    from onebit.experiments.ablation import VARIANTS, merge_results, run_ablation, write_report

    known = [v.name for v in VARIANTS]
    chosen = None if variants is None else [v.strip() for v in variants.split(",")]
    unknown = [v for v in chosen or [] if v not in known]
    if unknown:
        raise OnebitError(f"unknown variant(s) {unknown}; known: {', '.join(known)}")
    try:
        seed_list = [int(s) for s in seeds.split(",")]
    except ValueError:
        raise OnebitError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    result = run_ablation(
        data,
        seed_list,
        epochs,
        chosen,
        work_dir,
        log=lambda line: console.print(line, highlight=False),
    )
    words = ["onebit", "experiment", "ablation", "--data", data, "--seeds", seeds]
    words += ["--epochs", str(epochs), *(["--variants", variants] if variants else [])]
    command = shlex.join(words)
    if update:
        report = out / f"ablation-{data}.json"
        if not report.exists():
            raise OnebitError(f"--update needs an existing report, and {report} does not exist")
        previous = json.loads(report.read_text())
        result = merge_results(previous, result)
        command = previous.get("command", command)  # the command that remakes every row
    for path in write_report(result, out, command):
        console.print(f"wrote {path}", highlight=False)


def main() -> None:
    """Entry point of ``python -m onebit``."""
    app(prog_name="onebit")


if __name__ == "__main__":
    sys.exit(main())
