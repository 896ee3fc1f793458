"""The C++ reader of ``.onebit`` files (``csrc/executor/program_file.h``, bound as
``_native.read_program_file`` and ``_native.load_program_file``) against the Python loader
(``onebit.runtime.format``): on the fuzzer's mutations of its seed programs and on targeted bad
files, both accept (the same graph, tensor layout and values) or both refuse with the same
message. Plus its SHA-256 against hashlib."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import NATIVE_MISSING, native
from onebit.runtime import ProgramFileError
from onebit.runtime.format import (
    DTYPES,
    MAX_TENSORS,
    load_program,
    parse_program,
    read_header,
)
from onebit.runtime.fuzz import Mutator, assemble, seed_files
from onebit.runtime.fuzz.seeds import graph_text, mlp_seed

pytestmark = NATIVE_MISSING

NOT_JSON = " is not valid JSON ("
DIFFERENTIAL_CASES = 4000


def python_outcome(data: bytes):
    try:
        graph, tensors = parse_program(data)
    except ProgramFileError as error:
        return "refused", str(error)
    return "accepted", graph, read_header(data)[1], tensors


def native_outcome(data: bytes):
    try:
        graph, layout = native.read_program_file(data)
    except ProgramFileError as error:
        return "refused", str(error)
    return "accepted", graph, layout


def same_message(python: str, cpp: str) -> bool:
    """Equal, but for the detail of a JSON syntax error, which each parser words its own way."""
    if NOT_JSON in python and NOT_JSON in cpp:
        return python.split(NOT_JSON)[0] == cpp.split(NOT_JSON)[0]
    return python == cpp


def assert_agree(data: bytes, context: str = "") -> tuple:
    """Both readers accept ``data`` alike or refuse it with the same message; the outcome."""
    python, cpp = python_outcome(data), native_outcome(data)
    assert python[0] == cpp[0], (context, python[:2], cpp[:2])
    if python[0] == "refused":
        assert "\n" not in cpp[1]
        assert same_message(python[1], cpp[1]), (context, python[1], cpp[1])
        return python
    _, graph, layout, tensors = python
    _, cpp_graph, cpp_layout = cpp
    assert repr(cpp_graph) == repr(graph), context  # types (1 vs 1.0 vs True) and key order
    assert list(cpp_layout) == list(layout), context  # file order
    for name, (dtype_name, shape, offset) in cpp_layout.items():
        dtype, py_shape, py_offset = layout[name]
        assert (DTYPES[dtype_name], shape, offset) == (dtype, py_shape, py_offset), (context, name)
        count = int(np.prod(shape, dtype=np.int64))
        values = np.frombuffer(data, dtype, count, offset).reshape(shape)
        np.testing.assert_array_equal(values, tensors[name])
    return python


def refused_alike(data: bytes, message: str) -> str:
    """Both refuse ``data`` with exactly ``message`` (the text, in full)."""
    outcome = assert_agree(data)
    assert outcome[0] == "refused", outcome[:2]
    assert native_outcome(data)[1] == message
    assert outcome[1] == message
    return message


def raw_file(header: str | bytes, payload: bytes = b"") -> bytes:
    raw = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(raw)) + raw + payload


def program_with_graph(text: str) -> bytes:
    _, tensors = mlp_seed()
    return assemble(text, tensors)


def header_of(data: bytes) -> dict:
    size = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + size])


def with_header_text(data: bytes, text: str) -> bytes:
    size = struct.unpack("<Q", data[:8])[0]
    return raw_file(text, data[8 + size :])


# -- differential: the fuzzer's mutations -----------------------------------------------------


def test_the_readers_agree_on_the_fuzzers_mutations():
    seeds = seed_files()
    for data in seeds.values():
        assert assert_agree(data)[0] == "accepted"
    mutator = Mutator(seeds, seed=12)
    counts: dict[str, int] = {}
    for index in range(DIFFERENTIAL_CASES):
        case = mutator.case(index)
        outcome = assert_agree(case.data, f"case {index}: {case.seed} {case.kind} {case.detail}")
        counts[outcome[0]] = counts.get(outcome[0], 0) + 1
    # Both verdicts occur often enough for the agreement to mean something.
    assert min(counts.get("accepted", 0), counts.get("refused", 0)) > DIFFERENTIAL_CASES // 20


def test_the_loaders_agree_on_files_and_copy_tensors_aligned(tmp_path):
    mutator = Mutator(seed_files(), seed=7)
    datas = list(seed_files().values()) + [mutator.case(i).data for i in range(60)]
    accepted = 0
    for i, data in enumerate(datas):
        path = tmp_path / f"p{i}.onebit"
        path.write_bytes(data)
        try:
            graph, tensors = load_program(path)
        except ProgramFileError as error:
            with pytest.raises(ProgramFileError) as caught:
                native.load_program_file(str(path))
            assert same_message(str(error), str(caught.value))
            assert str(caught.value).startswith(f"{path}: ")
            continue
        accepted += 1
        cpp_graph, cpp_tensors = native.load_program_file(str(path))
        assert repr(cpp_graph) == repr(graph)
        assert list(cpp_tensors) == list(read_header(data)[1])
        for name, array in cpp_tensors.items():
            assert array.dtype == tensors[name].dtype and array.shape == tensors[name].shape
            np.testing.assert_array_equal(array, tensors[name])
            assert array.ctypes.data % 64 == 0, name
    assert accepted >= 3


def test_a_missing_or_unreadable_file_is_named_alike(tmp_path):
    (tmp_path / "p.onebit").write_bytes(seed_files()["mlp"])
    path = f"{tmp_path}/p.onebit\0.txt"  # names no file (a C string would end at the NUL)
    for load in (load_program, native.load_program_file):
        with pytest.raises(ProgramFileError, match=r"^program file not found: "):
            load(path)
    for path in (tmp_path / "absent.onebit", tmp_path):
        message = f"program file not found: {path}"
        with pytest.raises(ProgramFileError, match="program file not found") as python:
            load_program(path)
        with pytest.raises(ProgramFileError) as cpp:
            native.load_program_file(str(path))
        assert str(python.value) == str(cpp.value) == message
    if os.path.exists("/proc/self/mem"):  # a file whose read fails (EIO at offset 0)
        with pytest.raises(ProgramFileError) as python:
            load_program("/proc/self/mem")
        with pytest.raises(ProgramFileError) as cpp:
            native.load_program_file("/proc/self/mem")
        assert str(python.value) == str(cpp.value)
        assert str(cpp.value).startswith("/proc/self/mem cannot be read (")
    if os.geteuid() != 0:  # root reads any file
        path = tmp_path / "locked.onebit"
        path.write_bytes(seed_files()["mlp"])
        path.chmod(0)
        with pytest.raises(ProgramFileError) as python:
            load_program(path)
        with pytest.raises(ProgramFileError) as cpp:
            native.load_program_file(str(path))
        assert str(python.value) == str(cpp.value) == f"{path} cannot be read (Permission denied)"


# -- targeted: each check of read_header and parse_program --------------------------------------


@pytest.mark.parametrize("size", [0, 1, 7])
def test_a_truncated_file(size):
    data = seed_files()["mlp"][:size]
    refused_alike(
        data, "not a readable onebit program: the file is too short for a safetensors header"
    )


@pytest.mark.parametrize("cut", [8, 9, 100, -1])
def test_a_file_cut_inside_its_header_or_payload(cut):
    data = seed_files()["cnn"]
    size = struct.unpack("<Q", data[:8])[0]
    message = assert_agree(data[:cut])[1]
    if cut == -1:
        assert message == (
            "not a readable onebit program: the tensors end at byte "
            f"{len(data)} but the file has {len(data) - 1} bytes"
        )
    else:
        assert message == (
            f"not a readable onebit program: the header length {size} runs past the end of the file"
        )


@pytest.mark.parametrize("size", [2**64 - 1, 2**63, 100 * 2**20 + 1])
def test_a_header_length_past_the_end(size):
    data = struct.pack("<Q", size) + b"{}" * 100
    refused_alike(
        data,
        f"not a readable onebit program: the header length {size} runs past the end of the file",
    )


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a\xff": 1}',
        b'{"\xc0\xaf": 1}',
        b'{"\xed\xa0\x80": 1}',
        b'{"\xf4\x90\x80\x80": 1}',
        b"\xe2\x82",
    ],
    ids=["ff", "overlong", "surrogate", "above-max", "truncated"],
)
def test_a_header_that_is_not_utf8(raw):
    refused_alike(raw_file(raw), "not a readable onebit program: the header is not UTF-8 text")


@pytest.mark.parametrize("where", ["graph", "header"])
@pytest.mark.parametrize("depth", [64, 65])
def test_nesting_depth_64_is_read_and_65_refused(where, depth):
    nested = "[" * depth + "1" + "]" * depth
    if where == "graph":
        graph, tensors = mlp_seed()
        text = graph_text({**graph, "metadata": "NESTED"}).replace('"NESTED"', nested[1:-1])
        data = assemble(text, tensors)
    else:
        header = header_of(seed_files()["mlp"])
        text = json.dumps({**header, "extra": "NESTED"}).replace('"NESTED"', nested[1:-1])
        data = with_header_text(seed_files()["mlp"], text)
    outcome = assert_agree(data)
    if where == "graph":
        expected = "the program graph nests deeper than 64 levels"
    else:
        expected = (
            "not a readable onebit program: the safetensors header nests deeper than 64 levels"
        )
    if depth == 65:
        assert outcome[1] == expected
    elif where == "graph":
        assert outcome[0] == "accepted"
    else:  # read, then refused as an entry that is not an object
        assert outcome[1] == (
            "not a readable onebit program: tensor 'extra': its header entry is not an object"
        )


def test_quotes_inside_strings_do_not_count_as_nesting():
    graph, tensors = mlp_seed()
    text = graph_text({**graph, "metadata": {"note": '[[[{"\\"' * 40}})
    assert assert_agree(assemble(text, tensors))[0] == "accepted"


def test_the_largest_header_and_a_large_graph_object_are_read_in_linear_time():
    # nlohmann's callback parser rescans an object after each member object, and its
    # ordered_json finds keys by a linear search: the reader avoids both.
    tensors = {f"op{i}.weight": np.full(3, i, np.float32) for i in range(MAX_TENSORS)}
    metadata = json.dumps({f"k{i}": i for i in range(200_000)})
    data = assemble(f'{{"version": 1, "metadata": {metadata}}}', tensors)
    started = time.perf_counter()
    graph, layout = native.read_program_file(data)
    assert time.perf_counter() - started < 10  # quadratic: half a minute at -O3
    assert repr(graph) == repr(parse_program(data)[0])
    assert list(layout) == list(read_header(data)[1])


def test_too_many_tensor_entries():
    count = MAX_TENSORS + 2
    header = {f"t{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(count)}
    refused_alike(
        raw_file(json.dumps(header)),
        f"not a readable onebit program: the header lists {count} tensor entries, more than "
        f"{MAX_TENSORS} tensors",
    )
    header = {f"t{i}": 0 for i in range(count)}  # no data_offsets to count before parsing
    refused_alike(
        raw_file(json.dumps(header)),
        f"not a readable onebit program: the header lists {count} entries, more than "
        f"{MAX_TENSORS} tensors",
    )


def entries_file(**entries) -> bytes:
    return raw_file(json.dumps({"__metadata__": {}, **entries}), b"\0" * 16)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
            },
            "tensor 'b' overlaps another or leaves a gap before it",
        ),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]},
            },
            "tensor 'b' overlaps another or leaves a gap before it",
        ),
        (
            {"a": {"dtype": "U64", "shape": [3], "data_offsets": [0, 16]}},
            "tensor 'a': data_offsets [0, 16] do not hold a uint64 [3] tensor",
        ),
        (
            {"a": {"dtype": "U8", "shape": [2**31 - 1] * 8, "data_offsets": [16, 0]}},
            "tensor 'a': data_offsets [16, 0] do not hold a uint8 "
            f"[{', '.join([str(2**31 - 1)] * 8)}] tensor",
        ),
        (
            {"a": {"dtype": "I32", "shape": [4], "data_offsets": [0, 10**6]}},
            "tensor 'a': data_offsets must be two byte offsets",
        ),
        (
            {"a": {"dtype": "I32", "shape": [4], "data_offsets": [0, 16, 16]}},
            "tensor 'a': data_offsets must be two byte offsets",
        ),
        (
            {"a": {"dtype": "I32", "shape": [4], "data_offsets": [0.0, 16]}},
            "tensor 'a': data_offsets must be two byte offsets",
        ),
        (
            {"a": {"dtype": "I32", "shape": [4], "data_offsets": [-1, 16]}},
            "tensor 'a': data_offsets must be two byte offsets",
        ),
        (
            {"a": {"dtype": "I32", "shape": [4]}},
            "tensor 'a': data_offsets must be two byte offsets",
        ),
        ({"a": [1]}, "tensor 'a': its header entry is not an object"),
        (
            {"a": {"shape": [4]}},
            "tensor 'a' has dtype None, not one of ['F32', 'I32', 'U64', 'U8']",
        ),
        (
            {"it's": {"dtype": "F16"}},
            "tensor \"it's\" has dtype 'F16', not one of ['F32', 'I32', 'U64', 'U8']",
        ),
        (
            {"a\n\"'\\\x7f\u00e9\u00a0\u200b\U0001f600": {"dtype": 1e16}},
            "tensor 'a\\n\"\\'\\\\\\x7f\u00e9\\xa0\\u200b\U0001f600' has dtype 1e+16, "
            "not one of ['F32', 'I32', 'U64', 'U8']",
        ),
        (
            {"a": {"dtype": [1e-05, 0.0001, -0.0, 123456789012345678.0, 1e15, 2.5, True, None]}},
            "tensor 'a' has dtype [1e-05, 0.0001, -0.0, 1.2345678901234568e+17, "
            "1000000000000000.0, 2.5, True, None], not one of ['F32', 'I32', 'U64', 'U8']",
        ),
        (
            {"a": {"dtype": {"é": "'", "x": {"y": []}, "b": 1}}},
            "tensor 'a' has dtype {'é': \"'\", 'x': {'y': []}, 'b': 1}, "
            "not one of ['F32', 'I32', 'U64', 'U8']",
        ),
    ],
    ids=[
        "overlap",
        "gap",
        "size",
        "huge-shape",
        "past-end",
        "three",
        "float",
        "negative",
        "no-offsets",
        "not-object",
        "no-dtype",
        "quote",
        "escapes",
        "floats",
        "object",
    ],
)
def test_header_entries(entries, message):
    refused_alike(entries_file(**entries), f"not a readable onebit program: {message}")


def test_tensors_that_end_before_the_file_does():
    data = entries_file(a={"dtype": "U64", "shape": [1], "data_offsets": [0, 8]})
    refused_alike(
        data,
        f"not a readable onebit program: the tensors end at byte {len(data) - 8} but the file "
        f"has {len(data)} bytes",
    )


@pytest.mark.parametrize(
    "dimension",
    ["true", "1.0", "2e0", "-1", str(2**31), str(2**64), str(10**400), "1e999", '"1"', "null"],
)
def test_a_dimension_that_is_not_an_integer_in_range(dimension):
    header = f'{{"a": {{"dtype": "U8", "shape": [{dimension}], "data_offsets": [0, 1]}}}}'
    refused_alike(
        raw_file(header, b"\0"),
        "not a readable onebit program: tensor 'a': shape must be a list of at most 8 integers "
        "in [0, 2^31)",
    )


def test_too_many_axes():
    header = {"a": {"dtype": "U8", "shape": [1] * 9, "data_offsets": [0, 1]}}
    refused_alike(
        raw_file(json.dumps(header), b"\0"),
        "not a readable onebit program: tensor 'a': shape must be a list of at most 8 integers "
        "in [0, 2^31)",
    )


def test_an_unpaired_surrogate_in_a_tensor_name_is_refused():
    # Python's json reads "\ud800" into a str that UTF-8 cannot encode: the checksum's label
    # raised UnicodeEncodeError before format.py refused such text.
    header = header_of(seed_files()["mlp"])
    name = next(k for k in header if k != "__metadata__")
    text = json.dumps(header).replace(json.dumps(name), '"\\ud800' + name + '"')
    refused_alike(
        with_header_text(seed_files()["mlp"], text),
        "not a readable onebit program: the safetensors header is not valid JSON "
        "(a \\u escape is an unpaired surrogate)",
    )


def test_duplicate_keys_keep_the_first_place_and_the_last_value():
    header = (
        '{"b": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}, "a": 5, '
        '"a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}, "b": 1}'
    )
    refused_alike(
        raw_file(header, b"\0\0"),
        "not a readable onebit program: tensor 'b': its header entry is not an object",
    )


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (None, "not a onebit program (no onebit header)"),
        ({"onebit.format": "safetensors"}, "not a onebit program (no onebit header)"),
        ({"onebit.format": "onebit-program"}, "the program graph is missing"),
        (
            {"onebit.format": "onebit-program", "onebit.graph": "{}"},
            "the file has no checksum (onebit.sha256); convert the model again",
        ),
        (
            {"onebit.format": "onebit-program", "onebit.graph": 1},
            "not a readable onebit program: the header's __metadata__ must be an object of strings",
        ),
        (
            [],
            "not a readable onebit program: the header's __metadata__ must be an object of strings",
        ),
    ],
)
def test_missing_or_wrong_metadata(metadata, message):
    header = {} if metadata is None else {"__metadata__": metadata}
    refused_alike(raw_file(json.dumps(header)), message)


@pytest.mark.parametrize("where", ["graph", "weights", "digest"])
def test_a_wrong_checksum(where):
    data = bytearray(seed_files()["mlp"])
    if where == "weights":
        data[-1] ^= 1
    else:
        size = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8 : 8 + size])
        metadata = header["__metadata__"]
        if where == "graph":
            metadata["onebit.graph"] = metadata["onebit.graph"].replace('"v0"', '"v9"', 1)
        else:
            metadata["onebit.sha256"] = metadata["onebit.sha256"].upper()
        data = bytearray(with_header_text(bytes(data), json.dumps(header)))
    refused_alike(
        bytes(data), "the graph or tensor data does not match its checksum (corrupt file)"
    )


def test_non_ascii_names_are_hashed_as_python_does():
    graph, tensors = mlp_seed()
    name = sorted(tensors)[0]
    tensors["é\U0001f600" + name] = tensors.pop(name)
    text = graph_text(graph).replace(f'"{name}"', json.dumps("é\U0001f600" + name))
    assert assert_agree(assemble(text, tensors))[0] == "accepted"


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        ("1", True),
        ("1.0", True),
        ("true", True),
        ("2", False),
        ('"1"', False),
        ("null", False),
        ("false", False),
        (str(2**64 + 1), False),
        ("1e999", False),
        ("-1e999", False),
        ('{"a": [1, 2.5]}', False),
        ("0.1", False),
    ],
)
def test_the_version(version, accepted):
    graph, _ = mlp_seed()
    text = json.dumps({"version": "V", **graph}).replace('"V"', version)
    outcome = assert_agree(program_with_graph(text))
    if accepted:
        assert outcome[0] == "accepted"
    else:
        shown = {
            "1e999": "inf",
            "-1e999": "-inf",
            '"1"': "'1'",
            "null": "None",
            "false": "False",
            '{"a": [1, 2.5]}': "{'a': [1, 2.5]}",
        }.get(version, version)
        assert outcome[1] == (
            f"program format version {shown} is not supported (this onebit reads version 1)"
        )


def test_no_version():
    graph, _ = mlp_seed()
    refused_alike(
        program_with_graph(json.dumps(graph)),
        "program format version None is not supported (this onebit reads version 1)",
    )


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        ("[1]", "the program graph is not a JSON object"),
        (
            '{"version": 1, "x": NaN}',
            "the program graph is not valid JSON (NaN is not a JSON number)",
        ),
        (
            '{"version": 1, "x": [Infinity]}',
            "the program graph is not valid JSON (Infinity is not a JSON number)",
        ),
        (
            '{"version": 1, "x": -Infinity}',
            "the program graph is not valid JSON (-Infinity is not a JSON number)",
        ),
        (
            f'{{"version": 1, "x": {"9" * 4301}}}',
            "the program graph is not valid JSON (Exceeds the limit (4300 digits) for integer "
            "string conversion: value has 4301 digits; use sys.set_int_max_str_digits() to "
            "increase the limit)",
        ),
        (
            '{"version": 1, "x": "\\ud800"}',
            "the program graph is not valid JSON (a \\u escape is an unpaired surrogate)",
        ),
        (
            '{"version": 1, "\\udfff": 1}',
            "the program graph is not valid JSON (a \\u escape is an unpaired surrogate)",
        ),
        (
            "\ufeff{}",
            "the program graph is not valid JSON (Unexpected UTF-8 BOM (decode using utf-8-sig): "
            "line 1 column 1 (char 0))",
        ),
    ],
    ids=[
        "array",
        "nan",
        "infinity",
        "minus-infinity",
        "digits",
        "surrogate",
        "surrogate-key",
        "bom",
    ],
)
def test_graph_text(graph, message):
    refused_alike(program_with_graph(graph), message)


@pytest.mark.parametrize(
    "graph",
    [
        f'{{"version": 1, "x": {"9" * 4300}, "y": -{"8" * 30}, "z": [1e999, -1e999, 1e-999]}}',
        '{"version": 1, "x": "\\ud83d\\ude00 \\\\ud800", "y": 18446744073709551615}',
        '{"version": 1, "x": -9223372036854775808, "y": -9223372036854775809, "z": -0}',
    ],
    ids=["big-numbers", "surrogate-pair", "64-bit-edges"],
)
def test_graph_values_as_python_reads_them(graph):
    outcome = assert_agree(program_with_graph(graph))
    assert outcome[0] == "accepted"
    assert repr(native_outcome(program_with_graph(graph))[1]) == repr(json.loads(graph))


@pytest.mark.parametrize(
    "graph", ['{"version": 1, ', '{"version": 1} x', "", "{'version': 1}", '{"a": [1 2]}']
)
def test_broken_graph_text(graph):
    message = native_outcome(program_with_graph(graph))[1]
    assert message.startswith("the program graph is not valid JSON (")
    assert_agree(program_with_graph(graph))


# -- SHA-256 -------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), chunk=st.integers(0, 70))
def test_sha256_equals_hashlib(data, chunk):
    assert native.sha256_hex(data, chunk) == hashlib.sha256(data).hexdigest()


def test_sha256_at_every_length_around_the_block_edges():
    rng = np.random.default_rng(0)
    for length in range(0, 300):
        data = rng.bytes(length)
        for chunk in (0, 1, 55, 56, 63, 64, 65):
            assert native.sha256_hex(data, chunk) == hashlib.sha256(data).hexdigest(), (
                length,
                chunk,
            )


def test_sha256_of_a_large_input():
    data = np.random.default_rng(1).bytes(5 * 2**20 + 13)
    assert native.sha256_hex(data) == hashlib.sha256(data).hexdigest()
    assert native.sha256_hex(data, 4099) == hashlib.sha256(data).hexdigest()
