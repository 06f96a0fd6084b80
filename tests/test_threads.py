"""Preparations and verifications running at once in threads, as a worker pool runs them, on the CPU.

The models hold DynamicTRTResize nodes, which the CPU verification and INT8 calibration run through the Python
operator that every onnxruntime session of the process shares, and the quantizer's chatter is muted per thread:
one thread's results, errors and output must stay its own.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from resize_models import single_resize_model
from tensorrt_machine import NEEDS_TENSORRT_AND_GPU
from test_quantize_qdq import image_data, small_cnn

from trtconvert import log
from trtconvert.errors import BadInput
from trtconvert.int8.qdq import quantize_qdq
from trtconvert.model.profiles import parse_profile
from trtconvert.prepare.pipeline import run_prepare
from trtconvert.settings.spec import Spec

ROUNDS = 3


def _cubic_model(path: Path) -> Path:
    """A cubic Resize that --rewrite all turns into a DynamicTRTResize node."""
    onnx.save(single_resize_model([1, 3, 8, 8], scales=[1, 1, 2, 2], mode="cubic"), path)
    return path


def _sized_plugin_model(path: Path) -> Path:
    """A DynamicTRTResize node (as exported) whose output size is the graph input ``hw``, then a Mul."""
    weight = numpy_helper.from_array(np.full((1, 2, 1, 1), 0.5, dtype=np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node(
                "DynamicTRTResize",
                ["x", "hw"],
                ["r"],
                name="plugin",
                domain="Test",
                plugin_version="1",
                plugin_namespace="",
                tensorrt_plugin_shape_input_indices=[1],
            ),
            helper.make_node("Mul", ["r", "w"], ["y"]),
        ],
        "sized",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, "h", "w"]),
            helper.make_tensor_value_info("hw", TensorProto.INT64, ["k"]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)],
        [weight],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("Test", 1)]
    )
    onnx.save(model, path)
    return path


def test_two_prepare_verify_runs_in_threads_keep_their_results_and_errors_apart(tmp_path: Path) -> None:
    good = Spec(
        model=_cubic_model(tmp_path / "cubic.onnx"),
        verify=True,
        rewrite="all",
        target_tensorrt="8.5.3",
    )
    bad_size = tmp_path / "hw.npy"
    np.save(bad_size, np.array([4, 5, 6], dtype=np.int64))  # the plugin wants [height, width]
    bad = Spec(
        model=_sized_plugin_model(tmp_path / "sized.onnx"),
        verify=True,
        inputs={"hw": str(bad_size)},
        profiles=[parse_profile("x=1x2x3x3:1x2x3x3:1x2x3x3,hw=3:3:3")],
    )
    start = threading.Barrier(2)
    outcomes: dict[str, list] = {"good": [], "bad": []}

    def prepare(name: str, spec: Spec) -> None:
        start.wait()
        for round_ in range(ROUNDS):
            output = tmp_path / f"{name}_{round_}.onnx"
            try:
                outcomes[name].append(run_prepare(Spec(**{**vars(spec), "output": output})))
            except BadInput as error:
                outcomes[name].append(error)

    threads = [threading.Thread(target=prepare, args=item) for item in (("good", good), ("bad", bad))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(outcomes["good"]) == len(outcomes["bad"]) == ROUNDS
    for report in outcomes["good"]:
        assert not isinstance(report, Exception), report
        assert [r["decision"] for r in report["rewrites"]] == ["rewrite"]
        (checked,) = report["verification"]
        (output,) = checked["outputs"]
        assert output["ok"] and output["shape"] == [1, 3, 16, 16]
        assert output["max_abs"] <= 1e-5  # the plugin's reference against onnxruntime's cubic Resize
        assert Path(report["output"]).is_file()
    for error in outcomes["bad"]:
        assert isinstance(error, BadInput) and error.exit_code == 2
        assert "shape input must hold 2 values" in str(error) and "[4, 5, 6]" in str(error)


def test_a_muted_thread_leaves_the_output_of_other_threads_alone(capsys) -> None:
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    root = logging.getLogger()
    root.addHandler(handler)
    stdout, filters = sys.stdout, list(root.filters)
    lines = 200
    start = threading.Barrier(2)

    def chatter(name: str) -> None:
        start.wait()
        for index in range(lines):
            print(f"{name} {index}")
            logging.warning("%s %d", name, index)  # the root logger, as onnxruntime's quantizer logs
            time.sleep(0)

    def muted() -> None:
        with log.muted_in_this_thread():
            chatter("muted")

    threads = [threading.Thread(target=muted), threading.Thread(target=chatter, args=("loud",))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        root.removeHandler(handler)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"loud {i}" for i in range(lines)]
    assert records == [f"loud {i}" for i in range(lines)]
    assert sys.stdout is stdout and root.filters == filters


def _differences(got: onnx.ModelProto, want: bytes) -> str:
    """How two models differ, for the failure message: initializers by name and value, then the nodes."""
    expected = onnx.load_from_string(want)
    ours = {t.name: numpy_helper.to_array(t) for t in got.graph.initializer}
    theirs = {t.name: numpy_helper.to_array(t) for t in expected.graph.initializer}
    lines = (
        [f"initializers only in one: {sorted(set(ours) ^ set(theirs))}"] if set(ours) != set(theirs) else []
    )
    lines += [
        f"{name}: {ours[name].ravel()[:4]} != {theirs[name].ravel()[:4]}"
        for name in sorted(set(ours) & set(theirs))
        if ours[name].shape != theirs[name].shape or not np.array_equal(ours[name], theirs[name])
    ]
    nodes = [[(n.op_type, list(n.input), list(n.output)) for n in m.graph.node] for m in (got, expected)]
    if nodes[0] != nodes[1]:
        lines.append(f"nodes differ: {nodes[0]} != {nodes[1]}")
    return "; ".join(lines) or "same initializers and nodes, other fields differ"


def test_two_int8_quantizations_in_threads_give_what_each_gives_alone() -> None:
    models = {
        "plain": small_cnn(),
        "plugin": small_cnn(plugin="DynamicTRTResize"),
    }
    data = {name: image_data(model, 4, (1, 3, 16, 16), f"threads {name}") for name, model in models.items()}
    alone = {name: quantize_qdq(models[name], data[name]).SerializeToString() for name in models}
    start = threading.Barrier(2)
    together: dict[str, bytes | BaseException] = {}

    def quantize(name: str) -> None:
        start.wait()
        try:
            together[name] = quantize_qdq(
                models[name], data[name], "entropy" if name == "plain" else "minmax"
            )
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            together[name] = error

    threads = [threading.Thread(target=quantize, args=(name,)) for name in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not isinstance(together["plugin"], BaseException), together["plugin"]
    assert together["plugin"].SerializeToString() == alone["plugin"], _differences(
        together["plugin"], alone["plugin"]
    )
    entropy_alone = quantize_qdq(models["plain"], data["plain"], "entropy").SerializeToString()
    assert not isinstance(together["plain"], BaseException), together["plain"]
    assert together["plain"].SerializeToString() == entropy_alone, _differences(
        together["plain"], entropy_alone
    )
    assert alone["plain"] != entropy_alone  # the methods differ, so the comparison above means something


def _on_tensorrt(test):
    for mark in NEEDS_TENSORRT_AND_GPU:
        test = mark(test)
    return test


@_on_tensorrt
def test_two_builds_with_verify_in_threads_keep_their_reports_apart(
    example_model: Path, plugin_library: Path, timing_cache: Path, tmp_path: Path
) -> None:
    """Two `build --verify` of the bundled example at once, one through the plugin and one through TensorRT's
    own Resize, sharing the timing cache as a worker pool's builds would: each plan, sidecar and report its own."""
    import shutil

    from trtconvert.engine.build import run_build
    from trtconvert.engine.plan_files import read_sidecar

    profile = [parse_profile("input=1x3x16x16:1x3x32x32:2x3x48x48,factor=1x1x32x32:1x1x64x64:1x1x96x96")]
    # polygraphy guards the timing cache file with fcntl.lockf (util.LockFile), which excludes other processes
    # but not other threads of this one: the two builds may rewrite the file at the same moment. They share a
    # copy of the run's cache, so that such a race could spoil this test's file only, not the other tests'.
    shared = tmp_path / "both.cache"
    if timing_cache.is_file():
        shutil.copyfile(timing_cache, shared)
    specs = {
        "plugin": Spec(
            model=example_model,
            output=tmp_path / "plugin.plan",
            profiles=profile,
            rewrite="all",
            plugins=[plugin_library],
            verify=True,
            timing_cache=shared,
        ),
        "builtin": Spec(
            model=example_model,
            output=tmp_path / "builtin.plan",
            profiles=profile,
            rewrite="none",
            verify=True,
            timing_cache=shared,
        ),
    }
    start = threading.Barrier(2)
    reports: dict[str, dict | BaseException] = {}

    def build(name: str) -> None:
        start.wait()
        try:
            reports[name] = run_build(specs[name], show_progress=False)
        except BaseException as error:  # noqa: BLE001 - reported by the assertions below
            reports[name] = error

    threads = [threading.Thread(target=build, args=(name,)) for name in specs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, report in reports.items():
        assert not isinstance(report, BaseException), f"{name}: {report!r}"
        assert report["ok"] is True and Path(report["output"]) == specs[name].output
        engine = [o for s in report["engine_verification"]["results"] for o in s["outputs"]]
        assert engine and all(o["ok"] for o in engine), name
    assert [d["decision"] for d in reports["plugin"]["rewrites"]] == ["rewrite"]
    assert [d["decision"] for d in reports["builtin"]["rewrites"]] == ["keep"]
    assert [p["file"] for p in read_sidecar(specs["plugin"].output)["plugins"]] == [plugin_library.name]
    assert read_sidecar(specs["builtin"].output)["plugins"] == []


def test_tensorrt_messages_of_captures_open_at_once_stay_apart() -> None:
    """polygraphy's logger is the process's: errors logged in each thread reach that thread's capture only, a
    build moved to a worker by call_interruptibly keeps its caller's capture, and the logger is put back."""
    from polygraphy.logger import G_LOGGER

    from trtconvert.engine.interruptible import call_interruptibly
    from trtconvert.engine.tensorrt_log import tensorrt_messages

    before = (G_LOGGER.module_severity.get(), G_LOGGER.use_python_logging_system)
    handlers = logging.getLogger("Polygraphy").handlers[:]
    opened, main_done = threading.Barrier(2), threading.Event()
    errors: dict[str, list[str]] = {}

    def other_thread() -> None:
        with tensorrt_messages() as messages:
            opened.wait()
            for index in range(50):
                G_LOGGER.error(f"other {index}")
                time.sleep(0)
            main_done.wait(10)
        errors["other"] = messages.errors

    thread = threading.Thread(target=other_thread)
    thread.start()
    with tensorrt_messages() as messages:
        opened.wait()
        for index in range(50):
            G_LOGGER.error(f"main {index}")
            time.sleep(0)
        # On the main thread the call runs on a worker thread, in a copy of this context.
        call_interruptibly(lambda: G_LOGGER.error("main's build"), "TensorRT build")
    main_done.set()
    thread.join()
    errors["main"] = messages.errors
    assert errors["main"] == [f"main {i}" for i in range(50)] + ["main's build"]
    assert errors["other"] == [f"other {i}" for i in range(50)]
    assert (G_LOGGER.module_severity.get(), G_LOGGER.use_python_logging_system) == before
    assert logging.getLogger("Polygraphy").handlers == handlers


def test_a_message_whose_capture_cannot_be_told_reaches_every_open_capture() -> None:
    """A line from a thread TensorRT started itself (no context of ours) is shown to each open capture."""
    from polygraphy.logger import G_LOGGER

    from trtconvert.engine.tensorrt_log import tensorrt_messages

    with tensorrt_messages() as outer, tensorrt_messages() as inner:
        foreign = threading.Thread(target=lambda: G_LOGGER.error("from TensorRT's own thread"))
        foreign.start()
        foreign.join()
        G_LOGGER.error("from the inner capture's context")
    assert inner.errors == ["from TensorRT's own thread", "from the inner capture's context"]
    assert outer.errors == ["from TensorRT's own thread"]
