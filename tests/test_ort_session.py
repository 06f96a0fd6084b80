"""create_session: plain models, models holding DynamicTRTResize nodes, reduced precision, external data.

Plugin outputs are the float64 reference cast to float32, so they are compared with the reference to 1e-6
(float32 rounding of values of order 1); float16 graphs to 2e-3 (float16 rounding of the output).
"""

from __future__ import annotations

import gc
import tempfile
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from seeds import fresh_rng

from trtconvert.checks import ort_session
from trtconvert.checks.ort_session import cpu_graph, create_session
from trtconvert.errors import BadInput
from trtconvert.ops.resize_reference import CubicResizeAttributes, cubic_resize_reference


def _plugin_model(
    extra_inputs=(), plugin_inputs=("x",), dtype=TensorProto.FLOAT, **attributes
) -> onnx.ModelProto:
    """x -> [Cast to dtype] -> Test::DynamicTRTResize -> [Cast back] -> Mul by a weight (so there are weights)."""
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, "h", "w"]), *extra_inputs]
    weight = numpy_helper.from_array(fresh_rng().standard_normal((1, 2, 1, 1)).astype(np.float32), "w")
    nodes = []
    data = "x"
    if dtype != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["x"], ["x_low"], to=dtype))
        data = "x_low"
    nodes.append(
        helper.make_node(
            "DynamicTRTResize",
            [data, *plugin_inputs[1:]],
            ["r"],
            name="plugin",
            domain="Test",
            plugin_version="1",
            plugin_namespace="",
            **attributes,
        )
    )
    result = "r"
    if dtype != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["r"], ["r_float"], to=TensorProto.FLOAT))
        result = "r_float"
    nodes.append(helper.make_node("Mul", [result, "w"], ["y"]))
    graph = helper.make_graph(
        nodes, "plugin", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)], [weight]
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("Test", 1)]
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model, numpy_helper.to_array(weight)


def _randn(*shape):
    return fresh_rng().standard_normal(shape).astype(np.float32)


def test_plain_model_runs_without_the_python_operator():
    model, weight = _plugin_model()
    plain = onnx.ModelProto()
    plain.CopyFrom(model)
    del plain.graph.node[0]
    plain.graph.node[0].input[0] = "x"
    session = create_session(plain)
    x = _randn(1, 2, 3, 4)
    np.testing.assert_allclose(session.run(None, {"x": x})[0], x * weight, rtol=1e-6)


def test_scales_attribute():
    model, weight = _plugin_model(scales=[1.5, 0.5], coordinate_transformation_mode="asymmetric")
    x = _randn(2, 2, 6, 8)
    got = create_session(model).run(None, {"x": x})[0]
    want = cubic_resize_reference(x, (9, 4), CubicResizeAttributes("asymmetric"), (1.5, 0.5)) * weight
    assert got.shape == (2, 2, 9, 4)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_sizes_attribute_and_carrier_and_shape_input():
    attrs = CubicResizeAttributes("half_pixel", -0.5, 1, 0)
    x = _randn(1, 2, 5, 7)
    want = cubic_resize_reference(x, (11, 3), attrs)

    sized, weight = _plugin_model(sizes=[11, 3], cubic_coeff_a=-0.5, exclude_outside=1)
    np.testing.assert_allclose(
        create_session(sized).run(None, {"x": x})[0], want * weight, rtol=1e-6, atol=1e-6
    )

    like = helper.make_tensor_value_info("like", TensorProto.FLOAT, [1, 1, "oh", "ow"])
    carried, weight = _plugin_model([like], ("x", "like"), cubic_coeff_a=-0.5, exclude_outside=1)
    got = create_session(carried).run(None, {"x": x, "like": _randn(1, 1, 11, 3)})[0]
    np.testing.assert_allclose(got, want * weight, rtol=1e-6, atol=1e-6)

    hw = helper.make_tensor_value_info("hw", TensorProto.INT32, [2])
    shaped, weight = _plugin_model(
        [hw], ("x", "hw"), cubic_coeff_a=-0.5, exclude_outside=1, tensorrt_plugin_shape_input_indices=[1]
    )
    got = create_session(shaped).run(None, {"x": x, "hw": np.array([11, 3], dtype=np.int32)})[0]
    np.testing.assert_allclose(got, want * weight, rtol=1e-6, atol=1e-6)


def test_float16_plugin_nodes_are_cast_around_the_reference():
    model, weight = _plugin_model(dtype=TensorProto.FLOAT16, scales=[2.0, 2.0])
    cpu = cpu_graph(model)
    assert [n.op_type for n in cpu.graph.node].count("Cast") == 4
    x = _randn(1, 2, 4, 6)
    got = create_session(model).run(None, {"x": x})[0]
    half_in = x.astype(np.float16).astype(np.float64)
    want = cubic_resize_reference(half_in, (8, 12), CubicResizeAttributes(), (2.0, 2.0))
    want = want.astype(np.float16).astype(np.float32) * weight
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3)


def test_external_data_through_the_path(tmp_path):
    model, weight = _plugin_model(scales=[2.0, 1.0])
    path = tmp_path / "model.onnx"
    onnx.save_model(model, path, save_as_external_data=True, location="weights.bin", size_threshold=0)
    assert (tmp_path / "weights.bin").is_file()
    x = _randn(1, 2, 3, 5)
    got = create_session(path).run(None, {"x": x})[0]
    want = cubic_resize_reference(x, (6, 5), CubicResizeAttributes(), (2.0, 1.0)) * weight
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("plugin", [False, True], ids=["plain", "with-plugin-node"])
def test_unoptimized_sessions_run_the_graph_as_written_and_compute_the_same(tmp_path, plugin):
    import onnxruntime

    model, weight = _plugin_model(scales=[2.0, 1.0])
    if not plugin:
        del model.graph.node[0]
        model.graph.node[0].input[0] = "x"
    path = tmp_path / "model.onnx"
    onnx.save_model(model, path)
    x = _randn(1, 2, 3, 5)
    for source in (model, path):
        quick = create_session(source, optimize=False)
        assert quick.get_session_options().graph_optimization_level == (
            onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        )
        full = create_session(source)
        assert full.get_session_options().graph_optimization_level != (
            onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
        )
        np.testing.assert_allclose(
            quick.run(None, {"x": x})[0], full.run(None, {"x": x})[0], rtol=1e-6, atol=1e-6
        )


def test_protos_past_two_gib_go_through_a_temporary_file(monkeypatch):
    model, weight = _plugin_model(scales=[0.5, 0.5])
    monkeypatch.setattr(ort_session, "_byte_size", lambda _: 2**31)
    session = create_session(model)
    x = _randn(1, 2, 8, 6)
    want = cubic_resize_reference(x, (4, 3), CubicResizeAttributes(), (0.5, 0.5)) * weight
    np.testing.assert_allclose(session.run(None, {"x": x})[0], want, rtol=1e-6, atol=1e-6)


def test_a_node_without_any_output_size_is_bad_input():
    model, _ = _plugin_model()
    with pytest.raises(BadInput, match="'plugin' has no output size"):
        create_session(model)


def test_errors_inside_the_operator_are_raised_by_run_not_fatal():
    hw = helper.make_tensor_value_info("hw", TensorProto.INT64, [None])
    model, _ = _plugin_model([hw], ("x", "hw"), tensorrt_plugin_shape_input_indices=[1])
    session = create_session(model)
    with pytest.raises(RuntimeError, match="2 values"):
        session.run(None, {"x": _randn(1, 2, 3, 3), "hw": np.array([4, 5, 6], dtype=np.int64)})
    # The session stays usable after a failed run.
    assert session.run(None, {"x": _randn(1, 2, 3, 3), "hw": np.array([4, 5], dtype=np.int64)})[0].shape == (
        1,
        2,
        4,
        5,
    )


def test_the_model_handed_in_is_not_changed():
    model, _ = _plugin_model(scales=[2.0, 2.0])
    before = model.SerializeToString()
    create_session(model)
    assert model.SerializeToString() == before


def test_sessions_running_at_once_in_threads_keep_their_errors_apart():
    """Each session raises only what its own plugin nodes raised, while another session runs beside it."""
    hw = helper.make_tensor_value_info("hw", TensorProto.INT64, [None])
    model, weight = _plugin_model([hw], ("x", "hw"), tensorrt_plugin_shape_input_indices=[1])
    failing, working = create_session(model), create_session(model)
    x = _randn(1, 2, 3, 3)
    want = cubic_resize_reference(x, (4, 5), CubicResizeAttributes()) * weight
    rounds = 40
    start = threading.Barrier(2)
    outcomes: dict[str, list] = {"failing": [], "working": []}

    def run(name: str, session, size: list[int]) -> None:
        start.wait()
        for _ in range(rounds):
            try:
                outcomes[name].append(session.run(None, {"x": x, "hw": np.array(size, dtype=np.int64)})[0])
            except RuntimeError as error:
                outcomes[name].append(error)

    threads = [
        threading.Thread(target=run, args=("failing", failing, [4, 5, 6])),
        threading.Thread(target=run, args=("working", working, [4, 5])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes["failing"]) == len(outcomes["working"]) == rounds
    assert all(isinstance(o, RuntimeError) and "2 values" in str(o) for o in outcomes["failing"])
    for got in outcomes["working"]:
        assert not isinstance(got, Exception), got
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_the_temporary_copy_of_a_large_proto_goes_with_its_session(monkeypatch):
    model, _ = _plugin_model(scales=[0.5, 0.5])
    monkeypatch.setattr(ort_session, "_byte_size", lambda _: 2**31)
    folders: list[Path] = []
    make_folder = tempfile.TemporaryDirectory

    def recorded(*args, **kwargs):
        folder = make_folder(*args, **kwargs)
        folders.append(Path(folder.name))
        return folder

    monkeypatch.setattr(tempfile, "TemporaryDirectory", recorded)
    session = create_session(model)
    (folder,) = folders
    assert (folder / "model.onnx").is_file()
    del session
    gc.collect()
    assert not folder.exists()
