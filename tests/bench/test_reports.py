"""Every report renders from a stored JSON document alone (built here by hand, nothing timed):
the method prose comes from the stored values, the provenance is printed, and a warning line
appears when the machine was not idle. The CLI re-renders with ``--from-json``."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from onebit._registry import OnebitError
from onebit.bench.report import RENDERERS, read_document, render_markdown
from onebit.cli import app

TIMING = {"repeat": 7, "warmup": 2, "min_seconds": 0.025}
PAUSE = {"pause_after_torch_s": 0.75, "pause_kind": "busy-wait pause"}


def provenance(idle: bool = True) -> dict:
    return {
        "commit": "abc1234",
        "diff_sha256": None,
        "simd": "avx2",
        "load_before": 0.1 if idle else 3.2,
        "load_after": 1.1,
        "threads": 2,
        "idle": idle,
        "warning": None if idle else "machine not idle: load 3.20 before the start (> 0.5)",
    }


RESULTS = {
    "bgemm": {
        "simd": "avx2",
        "simd_paths": ["avx2", "portable"],
        "xor_popcount_peak_gmacs_per_core": 333.0,
        **PAUSE,
        "timing": TIMING,
        "notes": [],
        "results": [
            {
                "m": 64,
                "k": 512,
                "n": 256,
                "threads": 1,
                "simd": "avx2",
                "bgemm_s": 7e-5,
                "bitpack_bgemm_s": 1e-4,
                "baselines_s": {"fp32 matmul": 2.2e-4, "fp32 onednn": 4.1e-4, "int8 dynamic": 2e-4},
                "speedup_vs_fp32": 3.14,
                "speedup_vs_int8": 2.86,
                "binary_gmacs": 119.0,
                "fraction_of_peak": 0.36,
                "scaling_vs_1_thread": 1.0,
            }
        ],
    },
    "bconv2d": {
        "simd": "avx2",
        **PAUSE,
        "timing": TIMING,
        "rows": [
            {
                "conv": "3x3 32->32 8x8",
                "threads": 1,
                "onebit_s": {"int32": 1e-5, "output_bits alone": 2e-6},
                "torch_fp32_s": {"contiguous": 5e-5, "channels_last": 4e-5},
                "speedup_vs_fp32": {"int32": 4.0, "output_bits alone": 20.0},
                "scaling_vs_1_thread": {"int32": 1.0, "output_bits alone": 1.0},
            }
        ],
    },
    "zoo": {
        "input_size": 32,
        **PAUSE,
        "rounds": 3,
        "timing_onebit": {"repeat": 9, "warmup": 2},
        "timing_torch": {"repeat": 5, "warmup": 2},
        "resnet18_fp32_setups": {
            "eager channels_last": {"build_s": 0.1, "ms": {"1": 7.0, "2": 4.0}},
            "torch.compile": {"error": "RuntimeError: no C++ compiler"},
        },
        "resnet18_fp32_chosen": {"1": "eager channels_last", "2": "eager channels_last"},
        "host_compute_scaling": {"1": 1.0, "2": 1.9},
        "models": [
            {
                "model": "quicknet-small",
                "onebit_file_bytes": 4 * 2**20,
                "float32_state_dict_bytes": 48 * 2**20,
                "convert_s": 1.0,
                "same_prediction": True,
                "size_ratio": 12.0,
            }
        ],
        "rows": [
            {
                "model": "quicknet-small",
                "threads": count,
                "onebit_ms": ms,
                "onebit_best_ms": ms,
                "resnet18_fp32_ms": base,
                "resnet18_fp32_best_ms": base,
                "resnet18_fp32_setup": "eager channels_last",
                "speedup_vs_resnet18": base / ms,
                "scaling_vs_1_thread": 2.0 / ms,
                "scaling_paired_median": 1.5,
            }
            for count, ms, base in ((1, 2.0, 7.0), (2, 1.25, 4.0))
        ],
    },
    "mlp": {
        "model": "binarynet-mlp",
        "checkpoint": None,
        "trained": False,
        "note": "no checkpoint given: timing an untrained binarynet-mlp of the same shape",
        "float_twin": {"model": "float-mlp", "hidden": 1024, "depth": 3, "input_shape": [784]},
        "backend": "native",
        "onebit_file_bytes": 390720,
        "float32_state_dict_bytes": 11697435,
        "size_ratio": 29.9,
        "same_prediction": True,
        **PAUSE,
        "timing": TIMING,
        "latency_batch1": [
            {
                "threads": 1,
                "onebit_ms": 0.1,
                "python_executor_ms": 0.2,
                "float_twin_ms": 0.35,
                "float_twin_setup": "jit.freeze",
                "float_twin_setups_ms": {"eager": 0.4, "jit.freeze": 0.35},
                "speedup_vs_float_twin": 3.5,
                "torch_latent_binary_ms": 11.0,
                "speedup_vs_latent_binary": 110.0,
            }
        ],
    },
    "mcu": {
        "data": "mnist5k",
        "images": 7,
        "rows": [
            {
                "model": "tiny",
                "program": "tiny.onebit",
                "arithmetic": arithmetic,
                "cpu": "cortex-m4",
                "flash_bytes": flash,
                "ram_bytes": 2048,
                "const_bytes": flash - 512,
                "arena_bytes": 2048,
                "instructions": steps,
                "binary_layer_instructions": steps // 2,
                "op_instructions": [steps // 2, steps // 2],
            }
            for arithmetic, flash, steps in (
                ("binary", 4096, 100_000),
                ("float32", 131072, 900_000),
                ("int8", 32768, 500_000),
            )
        ],
        "ratios": [
            {
                "model": "tiny",
                "cpu": "cortex-m4",
                "flash_vs_float32": 32.0,
                "flash_vs_int8": 8.0,
                "ram_vs_float32": 1.0,
                "ram_vs_int8": 1.0,
                "instructions_vs_float32": 9.0,
                "instructions_vs_int8": 5.0,
                "binary_layers_vs_float32": 9.0,
                "binary_layers_vs_int8": 5.0,
            }
        ],
    },
    "kbit": {
        "simd_paths": ["avx2", "popcnt", "portable"],
        "simd_paths_not_runnable": ["avx512_vpopcntdq"],
        "timing": TIMING,
        **PAUSE,
        "rows": [
            {
                "conv": "3x3 256->256 14x14",
                "simd": "avx2",
                "threads": 1,
                "kbit_s": {"1": 0.0002, "2": 0.0005, "4": 0.0016, "8": 0.006},
                "bconv2d_s": 0.0001,
                "torch_fp32_s": {"contiguous": 0.004, "channels_last": 0.002},
            }
        ],
        "first_layer": {
            "checkpoint": "runs/demo/checkpoint.pt",
            "data": "mnist5k",
            "input_scale": 1 / 255,
            "on_grid": True,
            "model_accuracy": 0.97,
            "variants": {
                "float": {
                    "accuracy": 0.97,
                    "first_layer_ops": ["nchw_to_nhwc", "flatten", "dense"],
                    "first_layer_s": 40e-6,
                    "program_s": 80e-6,
                },
                "8-bit planes": {
                    "accuracy": 0.97,
                    "first_layer_ops": ["nchw_to_nhwc", "flatten", "quantize_pack", "kbit_dense"],
                    "first_layer_s": 30e-6,
                    "program_s": 70e-6,
                },
            },
        },
    },
    "fuzz": {
        "cases": 20,
        "seed": 1,
        "start": 0,
        "jobs": 2,
        "seconds": 3.0,
        "timeout": 20.0,
        "worker_max_memory_bytes": 256 * 2**20,
        "worker_max_work": 2**28,
        "seeds": ["cnn", "mlp"],
        "outcomes": {"ok": 12, "refused": 8},
        "by_kind": {"truncate": {"refused": 8}, "tensor_values": {"ok": 12}},
        "failures": [],
    },
    "hourglass": {
        "model": "landmark-hourglass",
        "arguments": {"num_classes": 68, "input_size": 256, "features": 256, "depth": 4},
        "input_shape": [3, 256, 256],
        "heatmap_shape": [68, 64, 64],
        "binary_macs": 7_500_000_000,
        "float_macs": 700_000_000,
        "onebit_file_bytes": 2_000_000,
        "float32_state_dict_bytes": 25_000_000,
        "convert_s": 2.0,
        "max_abs_heatmap_difference": 1e-7,
        "same_decoded_points": 1.0,
        "rounds": 7,
        "pause_after_torch_s": 1.0,
        "pause_kind": "busy-wait pause",
        "timing_onebit": {"repeat": 5, "warmup": 1},
        "timing_torch": {"repeat": 3, "warmup": 1},
        "twin_setups": {
            "eager channels_last": {"build_s": 0.1, "ms": {"1": 500.0}},
            "torch.compile": {"error": "RuntimeError: no C++ compiler"},
        },
        "target_ms": 15.0,
        "target_speedup": 5.0,
        "rows": [
            {
                "threads": 1,
                "onebit_ms": 240.0,
                "onebit_best_ms": 230.0,
                "twin_ms": 500.0,
                "twin_best_ms": 490.0,
                "twin_setup": "eager channels_last",
                "speedup_vs_twin": 500.0 / 240.0,
            }
        ],
    },
}

# a fact each report must take from the stored values, not from code
FROM_JSON = {
    "bgemm": "median of 7 samples after 2 warm-up calls",
    "bconv2d": "0.75 s busy-wait pause",
    "zoo": "× 1 thread is the ratio of the medians",
    "mlp": "**untrained** model",
    "fuzz": "20 files (cases 0..19 of run seed 1)",
    "mcu": "median over the first 7 mnist5k test images",
    "kbit": "median of 7 samples after 2 warm-up calls",
    "hourglass": "| 1 | 240.0 | 500.0 | eager channels_last | 2.1 | ≤ 15 ms: no; ≥ 5x: no |",
}


def document(name: str, idle: bool = True) -> dict:
    machine = {"cpu": "Test CPU", "cores": 2, "python": "3.11", "numpy": "2.0"}
    machine |= {"commit": "abc1234", "simd": "avx2", "provenance": provenance(idle)}
    command = f"onebit bench {name}"
    return {"report": name, "command": command, "machine": machine, name: RESULTS[name]}


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_report_renders_from_stored_json(name):
    doc = json.loads(json.dumps(document(name)))
    text = render_markdown(doc)
    assert f"Remake with `onebit bench {name}`" in text
    assert "Commit abc1234; SIMD path avx2; 1-minute load 0.10 before, 1.10 after" in text
    assert FROM_JSON[name] in text
    assert "Warning" not in text


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_report_warns_when_the_machine_was_busy(name):
    text = render_markdown(document(name, idle=False))
    assert "**Warning: machine not idle: load 3.20 before the start (> 0.5).**" in text


def test_zoo_report_names_the_chosen_torch_setup_and_why_others_failed():
    text = render_markdown(document("zoo"))
    assert "| quicknet-small | 2 | 1.25 | 4.00 | eager channels_last | 3.2 | 1.60 |" in text
    assert "torch.compile: could not run (RuntimeError: no C++ compiler)" in text


def test_hourglass_report_gives_the_work_and_the_agreement():
    text = render_markdown(document("hourglass"))
    assert "7.50 G binary MACs (XNOR-popcount) and 0.70 G float MACs" in text
    assert "max difference 1.00e-07, 100% of the decoded points equal" in text
    assert "torch.compile: could not run (RuntimeError: no C++ compiler)" in text
    assert "at most 15 ms on one thread, and at least 5x faster" in text


def test_mlp_headline_is_the_float_twin():
    text = render_markdown(document("mlp"))
    assert "| 1 | 0.100 | 0.200 | 50% | 0.350 | jit.freeze | 3.5x | 11.000 | 110.0x |" in text
    assert "Headline: against the float twin `float-mlp` (3 x 1024 hidden" in text


def test_read_document_refuses_other_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"machine": {}}))
    with pytest.raises(OnebitError, match="not a onebit benchmark result"):
        read_document(path)
    path.write_text("{")
    with pytest.raises(OnebitError, match="is not JSON"):
        read_document(path)
    path.write_text(json.dumps(document("zoo")))
    with pytest.raises(OnebitError, match="holds a 'zoo' result, not 'bgemm'"):
        read_document(path, "bgemm")


runner = CliRunner()


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_cli_help_says_where_it_writes(name):
    result = runner.invoke(app, ["bench", name, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "--from-json" in result.stdout
    assert "docs/" in result.stdout


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_cli_from_json_rerenders_beside_the_file(tmp_path, name):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(document(name, idle=False)))
    result = runner.invoke(app, ["bench", name, "--from-json", str(path)])
    assert result.exit_code == 0, result.output
    assert path.with_suffix(".md").read_text() == render_markdown(document(name, idle=False))


def test_cli_from_json_refuses_another_report(tmp_path):
    path = tmp_path / "zoo.json"
    path.write_text(json.dumps(document("zoo")))
    result = runner.invoke(app, ["bench", "mlp", "--from-json", str(path)])
    assert result.exit_code == 2
    assert "holds a 'zoo' result, not 'mlp'" in result.stderr


def test_kbit_report_gives_each_width_against_the_binary_and_fp32_convs():
    text = render_markdown(document("kbit"))
    assert "| avx2 | 1 | 1-bit bconv2d | 100 | 1.00 | 20.00 | 2,000 (channels_last) |" in text
    assert "|  |  | 4-bit x 4-bit | 1,600 | 16.00 | 1.25 |  |" in text
    assert "not runnable on this CPU: avx512_vpopcntdq" in text
    assert "| 8-bit planes | nchw_to_nhwc + flatten + quantize_pack + kbit_dense | 30.0 |" in text
    assert "The test inputs lie on the 8-bit grid" in text


def test_mcu_report_gives_each_build_and_the_twins_ratios():
    text = render_markdown(document("mcu"))
    assert "| tiny | binary | cortex-m4 | 4.0 | 2.0 | 100,000 | 50,000 |" in text
    assert "| tiny | cortex-m4 | 32.0x | 8.0x | 1.0x | 1.0x | 9.0x | 5.0x | 9.0x | 5.0x |" in text
