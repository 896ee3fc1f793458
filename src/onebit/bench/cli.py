"""``onebit bench NAME``: each benchmark a thin command over :mod:`onebit.bench`, writing its
JSON result (with provenance) and the Markdown report rendered from it, or re-rendering a stored
result with ``--from-json``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from onebit._cli_output import console, errors, reports_errors
from onebit._registry import OnebitError

bench_app = typer.Typer(
    help="Time the packed engine against PyTorch on the same shapes, in the same run. Each "
    "benchmark writes a JSON result (machine, commit, load, SIMD path) to --out, by default the "
    "project's report docs/NAME.json, and a Markdown report rendered from it beside it.",
    no_args_is_help=True,
)

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
        lambda: bconv2d.benchmark_bconv2d(
            convs,
            bconv2d.PAUSE_S if pause is None else pause,
            peak_seconds=0.1 if quick else bconv2d.PEAK_S,
        ),
        bconv2d.print_bconv2d,
        max(count for conv in convs for count in conv[-1]),
    )


@bench_app.command("kbit")
@reports_errors
def bench_kbit(
    out: Annotated[Path, _out_option("docs/kbit.json")] = Path("docs/kbit.json"),
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Also compare this model's float and 8-bit first layer (mnist5k)."),
    ] = None,
    threads: Threads = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="One small conv: checks the run, not a figure.")
    ] = False,
    pause: Pause = None,
    from_json: FromJson = None,
) -> None:
    """Bit-serial conv at 1, 2, 4, 8 bits vs the 1-bit and fp32 convs, on every SIMD path."""
    from onebit.bench import kbit

    counts = _thread_counts(threads, kbit.THREADS)
    _bench(
        "kbit",
        out,
        from_json,
        _words(out=str(out), checkpoint=checkpoint, threads=threads, quick=quick, pause=pause),
        lambda: kbit.benchmark_kbit(
            kbit.QUICK_CONV if quick else kbit.CONV,
            kbit.BITS,
            counts,
            checkpoint,
            kbit.PAUSE_S if pause is None else pause,
        ),
        kbit.print_kbit,
        max(counts),
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


@bench_app.command("hourglass")
@reports_errors
def bench_hourglass(
    out: Annotated[Path, _out_option("docs/hourglass.json")] = Path("docs/hourglass.json"),
    threads: Threads = None,
    input_size: Annotated[int, typer.Option(min=16)] = 256,
    landmarks: Annotated[int, typer.Option(min=1)] = 68,
    features: Annotated[int, typer.Option(min=4)] = 256,
    depth: Annotated[int, typer.Option(min=1)] = 4,
    rounds: Annotated[int, typer.Option(min=1)] = 7,
    pause: Pause = None,
    baseline: Annotated[
        list[str] | None,
        typer.Option(help="A torch setup of the float twin to try (repeat); default all."),
    ] = None,
    binary_head: Annotated[
        bool,
        typer.Option(
            "--binary-head",
            help="Time the paper's layout, the head's 1x1 conv binary too (landmark-hourglass's "
            "binary_head).",
        ),
    ] = False,
    from_json: FromJson = None,
) -> None:
    """The binary landmark hourglass packed vs its float twin in torch, batch 1."""
    from onebit.bench import hourglass, zoo

    counts = _thread_counts(threads, (1,))
    unknown = [name for name in baseline or [] if name not in zoo.BASELINE_SETUPS]
    if unknown:
        raise OnebitError(f"unknown --baseline {unknown}; known: {', '.join(zoo.BASELINE_SETUPS)}")
    words = _words(out=str(out), threads=threads, baseline=baseline, pause=pause)
    defaults = {"input_size": 256, "landmarks": 68, "features": 256, "depth": 4, "rounds": 7}
    given = {"input_size": input_size, "landmarks": landmarks, "features": features}
    given |= {"depth": depth, "rounds": rounds}
    words += _words(**{key: value for key, value in given.items() if value != defaults[key]})
    words += ["--binary-head"] if binary_head else []
    _bench(
        "hourglass",
        out,
        from_json,
        words,
        lambda: hourglass.benchmark_hourglass(
            input_size,
            landmarks,
            features,
            depth,
            counts,
            rounds,
            hourglass.PAUSE_S if pause is None else pause,
            baseline or zoo.BASELINE_SETUPS,
            binary_head,
        ),
        hourglass.print_hourglass,
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


@bench_app.command("mcu")
@reports_errors
def bench_mcu(
    program: Annotated[
        list[str] | None,
        typer.Option(help="LABEL=PATH of a .onebit program (repeat), e.g. mcu-bnn=runs/mcu/..."),
    ] = None,
    out: Annotated[Path, _out_option("docs/mcu.json")] = Path("docs/mcu.json"),
    data: Annotated[str, typer.Option(help="Dataset whose first test images run.")] = "mnist5k",
    from_json: FromJson = None,
) -> None:
    """Exported C on Cortex-M4/M3/M0+ under QEMU: flash, RAM and instructions of each program
    against its float32 and int8 twins."""
    from onebit.bench import mcu

    if not program and from_json is None:
        raise OnebitError("give at least one --program LABEL=PATH (a .onebit program)")
    program = program or []
    programs = {}
    for item in program:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise OnebitError(f"--program takes LABEL=PATH, got {item!r}")
        programs[label] = path
    words = [*(w for item in program for w in ("--program", item)), "--out", str(out)]
    _bench(
        "mcu",
        out,
        from_json,
        words + (["--data", data] if data != "mnist5k" else []),
        lambda: mcu.benchmark_mcu(programs, data),
        mcu.print_mcu,
        1,
    )


@bench_app.command("energy")
@reports_errors
def bench_energy(
    out: Annotated[Path, _out_option("docs/energy.json")] = Path("docs/energy.json"),
    model: Annotated[
        list[str] | None, typer.Option(help="A model (repeat); default every zoo model.")
    ] = None,
    from_json: FromJson = None,
) -> None:
    """Energy per inference of each model vs its float twin, from Horowitz's 45 nm
    per-operation table: an estimate from a model, not a measurement (nothing is timed)."""
    import shlex

    from onebit.bench import energy
    from onebit.bench.provenance import Provenance

    if from_json is not None:
        console.print(f"wrote {energy.rerender(from_json)}", highlight=False)
        return
    provenance = Provenance.start()
    result = energy.benchmark_energy(model or energy.default_models())
    finished = provenance.finish(threads=1)
    energy.print_energy(result, console)
    command = shlex.join(["onebit", "bench", "energy", *_words(out=str(out), model=model)])
    report, json_path = energy.write_report(result, out, command, finished)
    console.print(f"wrote {json_path} and {report}", highlight=False)


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
