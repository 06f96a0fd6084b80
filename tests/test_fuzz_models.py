"""A model fuzzer: small valid models, mutated by hypothesis (names, types, shapes, opsets, IR versions,
external-data entries, attributes, graph structure and the file's bytes), run through `inspect`, `prepare`
(following inspect's own suggested profile, with --verify) and `build`, each asserting the whole contract
(tests/contract.py).

CI runs a few examples (a couple of minutes on 2 cores); a long run by hand:
    TRTCONVERT_FUZZ_EXAMPLES=500 .venv/bin/pytest -m fuzz tests/test_fuzz_models.py
A failure prints the mutation that caused it; hypothesis keeps it in its database and replays it first.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from contract import assert_contract, digests, trtconvert
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from model_factories import conv_model
from onnx import TensorProto, helper, numpy_helper
from resize_models import single_resize_model

pytestmark = [pytest.mark.fuzz, pytest.mark.slow]

EXAMPLES = int(os.environ.get("TRTCONVERT_FUZZ_EXAMPLES", "4"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 10,  # CI: the same few examples each run; by hand: new ones every time
)


def _if_model() -> onnx.ModelProto:
    info = helper.make_tensor_value_info
    then_branch = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["t"])], "then", [], [info("t", TensorProto.FLOAT, ["n", 4])]
    )
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])], "else", [], [info("e", TensorProto.FLOAT, ["n", 4])]
    )
    graph = helper.make_graph(
        [
            helper.make_node(
                "If", ["flag"], ["y"], name="branch", then_branch=then_branch, else_branch=else_branch
            )
        ],
        "if",
        [info("x", TensorProto.FLOAT, ["n", 4]), info("flag", TensorProto.BOOL, [])],
        [info("y", TensorProto.FLOAT, ["n", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _gemm_model() -> onnx.ModelProto:
    rng = np.random.default_rng(2)
    info = helper.make_tensor_value_info
    weight = numpy_helper.from_array(rng.normal(size=(8, 4)).astype(np.float32), "w")
    shape = numpy_helper.from_array(np.array([-1, 2, 2], np.int64), "shape")
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["m"], name="matmul"),
        helper.make_node("Reshape", ["m", "shape"], ["y"], name="reshape"),
    ]
    graph = helper.make_graph(
        nodes,
        "gemm",
        [info("x", TensorProto.FLOAT, ["b", 8])],
        [info("y", TensorProto.FLOAT, ["b", 2, 2])],
        [weight, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model


SEEDS = {
    "conv": conv_model,
    "if": _if_model,
    "gemm": _gemm_model,
    "resize": lambda: single_resize_model(["n", 1, 8, 8], scales=[1, 1, 2, 2], opset=13),
}

TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12
) | st.sampled_from(["", ",", "'", "a,b", "x=1", "a:0", "it's", "\x00", "é", " ", "-1", "?", "batch"])
WEIRD_INT = st.integers(-(2**63), 2**63 - 1) | st.sampled_from([-1, 0, 1, 2**31, 2**31 - 1, 2**40])


@st.composite
def mutation(draw) -> tuple[str, list[str], bool]:
    """(seed model, mutations to apply as text for the report, save with external data)."""
    seed = draw(st.sampled_from(sorted(SEEDS)))
    kinds = draw(
        st.lists(
            st.sampled_from(
                [
                    "name",
                    "type",
                    "shape",
                    "opset",
                    "ir",
                    "attribute",
                    "external",
                    "bytes",
                    "outputs",
                    "structure",
                ]
            ),
            min_size=1,
            max_size=3,
        )
    )
    steps = []
    for kind in kinds:
        if kind == "name":
            steps.append(
                ("name", draw(st.sampled_from(["input", "output", "node", "initializer"])), draw(TEXT))
            )
        elif kind == "type":
            steps.append(
                (
                    "type",
                    draw(st.sampled_from(["input", "output"])),
                    draw(st.integers(0, 26) | st.sampled_from(["sequence", "optional"])),
                )
            )
        elif kind == "shape":
            steps.append(
                (
                    "shape",
                    draw(st.sampled_from(["input", "output"])),
                    draw(st.lists(WEIRD_INT | TEXT | st.none(), max_size=6)),
                )
            )
        elif kind == "opset":
            steps.append(
                (
                    "opset",
                    draw(st.sampled_from(["", "ai.onnx.ml", "com.example"])),
                    draw(st.integers(-2, 40) | WEIRD_INT),
                )
            )
        elif kind == "ir":
            steps.append(("ir", draw(st.integers(-1, 30))))
        elif kind == "attribute":
            steps.append(("attribute", draw(TEXT), draw(WEIRD_INT | st.floats(allow_nan=True) | TEXT)))
        elif kind == "external":
            steps.append(
                (
                    "external",
                    draw(
                        st.sampled_from(["offset", "length", "location", "checksum", "compression", "twice"])
                    ),
                    draw(TEXT | WEIRD_INT.map(str)),
                )
            )
        elif kind == "structure":
            steps.append(
                (
                    "structure",
                    draw(st.sampled_from(sorted(STRUCTURE))),
                    draw(st.sampled_from([10, 2**20, 3 * 10**9, 10**12])),
                )
            )
        elif kind == "bytes":
            steps.append(
                (
                    "bytes",
                    draw(st.sampled_from(["flip", "truncate", "insert"])),
                    draw(st.integers(0, 10**6)),
                    draw(st.binary(min_size=1, max_size=8)),
                )
            )
        else:
            steps.append(("outputs", draw(st.integers(0, 2))))
    external = draw(st.booleans()) or any(step[0] == "external" for step in steps)
    return seed, steps, external


def _value(model: onnx.ModelProto, where: str):
    graph = model.graph
    values = {
        "input": graph.input,
        "output": graph.output,
        "node": graph.node,
        "initializer": graph.initializer,
    }[where]
    return values[0] if len(values) else None


def _apply(model: onnx.ModelProto, step: tuple) -> None:
    kind = step[0]
    if kind == "name":
        target = _value(model, step[1])
        if target is not None:
            old = target.name
            target.name = step[2]
            for node in model.graph.node:  # keep the graph connected where the name is used
                node.input[:] = [step[2] if n == old else n for n in node.input]
                node.output[:] = [step[2] if n == old else n for n in node.output]
    elif kind == "type":
        target = _value(model, step[1])
        if target is None:
            return
        if step[2] == "sequence":
            target.type.CopyFrom(
                helper.make_sequence_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, None))
            )
        elif step[2] == "optional":
            target.type.CopyFrom(
                helper.make_optional_type_proto(helper.make_tensor_type_proto(TensorProto.FLOAT, None))
            )
        else:
            target.type.tensor_type.elem_type = step[2]
    elif kind == "shape":
        target = _value(model, step[1])
        if target is None:
            return
        shape = target.type.tensor_type.shape
        del shape.dim[:]
        for dim in step[2]:
            entry = shape.dim.add()
            if isinstance(dim, int):
                entry.dim_value = dim
            elif isinstance(dim, str):
                entry.dim_param = dim
    elif kind == "opset":
        for opset in model.opset_import:
            if opset.domain == step[1]:
                opset.version = step[2]
                return
        model.opset_import.add(domain=step[1], version=step[2])
    elif kind == "ir":
        model.ir_version = step[1]
    elif kind == "attribute":
        node = model.graph.node[0]
        value = step[2]
        if isinstance(value, str):
            attribute = helper.make_attribute(step[1] or "mode", value)
        elif isinstance(value, float):
            attribute = helper.make_attribute(step[1] or "alpha", value)
        else:
            attribute = helper.make_attribute(step[1] or "axis", value)
        node.attribute.append(attribute)
    elif kind == "outputs":
        del model.graph.output[step[1] :]
    elif kind == "structure":
        STRUCTURE[step[1]](model, step[2])


def _duplicate_output(model: onnx.ModelProto, _: int) -> None:
    if model.graph.output:
        model.graph.output.append(model.graph.output[0])


def _second_writer(model: onnx.ModelProto, _: int) -> None:
    """A second node writing a tensor the graph already has (the graph is no longer SSA)."""
    if model.graph.node and model.graph.input:
        model.graph.node.append(
            helper.make_node("Identity", [model.graph.input[0].name], [model.graph.node[0].output[0]])
        )


def _dangling_input(model: onnx.ModelProto, _: int) -> None:
    if model.graph.node:
        model.graph.node[0].input[0] = "produced_by_nothing"


def _cycle(model: onnx.ModelProto, _: int) -> None:
    if model.graph.node:
        model.graph.node[0].input[0] = model.graph.node[-1].output[0]


def _shadow_input(model: onnx.ModelProto, _: int) -> None:
    """A node whose output has the name of a graph input."""
    if model.graph.input:
        name = model.graph.input[0].name
        model.graph.node.insert(0, helper.make_node("Identity", [name], [name]))


def _grow(model: onnx.ModelProto, count: int) -> None:
    """An extra output max(range(count)): a few bytes of model whose folding or run makes ``count`` values."""
    for name, value in (("grow_limit", count), ("grow_zero", 0), ("grow_one", 1)):
        model.graph.initializer.append(numpy_helper.from_array(np.array(value, np.int64), name))
    model.graph.node.extend(
        [
            helper.make_node("Range", ["grow_zero", "grow_limit", "grow_one"], ["grow_range"]),
            helper.make_node("ReduceMax", ["grow_range"], ["grown"], keepdims=0),
        ]
    )
    model.graph.output.append(helper.make_tensor_value_info("grown", TensorProto.INT64, []))


# Graph structure the checker or the stages must refuse or survive: what the other mutations never make.
STRUCTURE = {
    "duplicate_output": _duplicate_output,
    "second_writer": _second_writer,
    "dangling_input": _dangling_input,
    "cycle": _cycle,
    "shadow_input": _shadow_input,
    "grow": _grow,
}


def _external_entry(tensor: onnx.TensorProto, key: str, value: str) -> None:
    if key == "twice":  # a key written twice: onnx would keep the last
        tensor.external_data.add(key="location", value=value)
        return
    entries = {e.key: e.value for e in tensor.external_data}
    entries[key] = value
    del tensor.external_data[:]
    for k, v in entries.items():
        tensor.external_data.add(key=k, value=v)


def _write(folder: Path, seed: str, steps: list, external: bool) -> list[Path]:
    """The mutated model file (and its external data), as the user would hand it over."""
    model = SEEDS[seed]()
    for step in steps:
        if step[0] not in ("external", "bytes"):
            _apply(model, step)
    path = folder / "model.onnx"
    try:
        if external:
            onnx.save(model, str(path), save_as_external_data=True, location="model.data", size_threshold=0)
        else:
            onnx.save(model, str(path))
    except (ValueError, TypeError, onnx.onnx_cpp2py_export.checker.ValidationError):  # names onnx cannot save
        path.write_bytes(model.SerializeToString())
    # External-data entries are edited through onnx, so before the file's bytes are.
    for step in sorted(steps, key=lambda step: step[0] == "bytes"):
        if step[0] == "external":
            saved = onnx.load(str(path), load_external_data=False)
            for tensor in saved.graph.initializer:
                if tensor.data_location == TensorProto.EXTERNAL:
                    _external_entry(tensor, step[1], step[2])
                    break
            path.write_bytes(saved.SerializeToString())
        elif step[0] == "bytes":
            data = bytearray(path.read_bytes())
            at = step[2] % max(len(data), 1)
            if step[1] == "flip":
                if data:  # a truncation before may have left nothing to flip
                    data[at] ^= step[3][0] or 0xFF
            elif step[1] == "truncate":
                del data[at:]
            else:
                data[at:at] = step[3]
            path.write_bytes(bytes(data))
    return sorted(p for p in folder.iterdir() if p.is_file())


@FUZZ
@given(mutation())
def test_a_mutated_model_keeps_the_contract_in_every_command(case) -> None:
    _keeps_the_contract(*case)


@pytest.mark.parametrize("kind", sorted(STRUCTURE))
def test_every_structure_mutation_keeps_the_contract(kind: str) -> None:
    """Each structural mutation once on the conv model, whatever hypothesis draws in the few CI examples."""
    _keeps_the_contract("conv", [("structure", kind, 10**12)], False)


def _keeps_the_contract(seed: str, steps: list, external: bool) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "in").mkdir()
        inputs = _write(folder / "in", seed, steps, external)
        model = folder / "in" / "model.onnx"
        outputs = folder / "out"
        before = digests(inputs)

        inspect = trtconvert(["inspect", model, "--json"])
        assert_contract(inspect, ["inspect", model], inputs, before, outputs)
        profile: list[str] = []
        if inspect.code == 0:
            example = json.loads(inspect.stdout).get("profile_example")
            if example and example.startswith("--profile"):
                profile = shlex.split(example)  # our own suggestion must run as printed

        for args in (
            ["prepare", model, "-o", outputs / "prepared.onnx", *profile, "--verify"],
            ["build", model, "-o", outputs / "model.plan", *profile],
        ):
            run = trtconvert(args)
            assert_contract(run, args, inputs, before, outputs)
            if args[0] == "prepare" and run.code == 0:
                assert (outputs / "prepared.onnx").is_file()
                onnx.checker.check_model(str(outputs / "prepared.onnx"))
            if run.code != 0:
                assert not (outputs / "prepared.onnx").exists() or args[0] != "prepare"
