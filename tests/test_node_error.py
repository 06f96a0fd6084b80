"""The error arithmetic behind --auto-keep-fp32's ranking (checks.node_error), on synthetic arrays: a chain run
in float64 as the reference and with every tensor rounded to fp16 as the reduced-precision run."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trtconvert.checks.node_error import (
    MAGNITUDE_FLOOR,
    TensorErrors,
    node_gains,
    rank_by_gain,
    tensor_error,
)
from trtconvert.checks.ranges import TensorRange


def _fp16(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # past 65504 is inf in fp16, as on the GPU
        return values.astype(np.float16).astype(np.float64)


def _chain(seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[TensorRange]]:
    """x -> matmul_a, matmul_b (products of about 1e3 with weights that differ by one) -> cancel (a - b: the cancellation) -> halve (* 0.5) -> flip (a transpose). Reference in
    float64; the reduced run rounds every tensor to fp16, as an fp16 engine stores them."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(32, 64))
    w_a = rng.integers(-64, 65, size=(64, 64)).astype(np.float64)
    w_b = w_a + rng.choice([-1.0, 1.0], size=(64, 64))
    want: dict[str, np.ndarray] = {}
    got: dict[str, np.ndarray] = {}
    want["a"], got["a"] = x @ w_a, _fp16(_fp16(x) @ w_a)
    want["b"], got["b"] = x @ w_b, _fp16(_fp16(x) @ w_b)
    want["difference"], got["difference"] = want["a"] - want["b"], _fp16(got["a"] - got["b"])
    want["half"], got["half"] = want["difference"] * 0.5, _fp16(got["difference"] * 0.5)
    want["y"], got["y"] = want["half"].T, got["half"].T
    tensors = [
        TensorRange("a", "matmul_a", ("cancel",)),
        TensorRange("b", "matmul_b", ("cancel",)),
        TensorRange("difference", "cancel", ("halve",)),
        TensorRange("half", "halve", ("flip",)),
        TensorRange("y", "flip", ()),
    ]
    for tensor in tensors:
        tensor.add(want[tensor.name])
    return got, want, tensors


def _measure(got: dict, want: dict) -> dict[str, float]:
    errors = TensorErrors()
    for name in want:
        errors.add(name, got[name], want[name])
    return errors.errors


def _by_magnitude(tensors: list[TensorRange]) -> list[str]:
    return [t.producer for t in sorted(tensors, key=lambda t: t.max_abs, reverse=True)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_node_that_amplifies_error_ranks_first_and_pass_through_nodes_do_not(seed: int) -> None:
    got, want, tensors = _chain(seed)
    errors = _measure(got, want)
    # The cancellation turns fp16's rounding of x, a and b (relative 2^-12 each) into a large error of the difference.
    assert errors["a"] < 2**-10 and errors["difference"] > 20 * errors["a"]
    gains = node_gains(tensors, errors)
    ranked = rank_by_gain([], _by_magnitude(tensors), gains)
    assert ranked[0].node == "cancel" and ranked[0].ranked_by == "error gain"
    assert math.isclose(ranked[0].gain, errors["difference"] - max(errors["a"], errors["b"]))
    # halve and flip pass the difference's error on (exactly, in fp16 too): they gain nothing and rank last,
    # below the MatMuls, whose fp16 rounding adds a little.
    assert gains["halve"] == pytest.approx(0.0, abs=1e-12) and gains["flip"] == pytest.approx(0.0, abs=1e-12)
    assert 0 < gains["matmul_a"] < 2**-10 and 0 < gains["matmul_b"] < 2**-10
    assert [r.node for r in ranked[1:3]] in (["matmul_a", "matmul_b"], ["matmul_b", "matmul_a"])
    assert {r.node for r in ranked[3:]} == {"halve", "flip"}
    # By magnitude alone the cancelling node would come after both MatMuls.
    assert _by_magnitude(tensors).index("cancel") > _by_magnitude(tensors).index("matmul_a")


def test_an_overflow_ranks_its_producer_not_the_nodes_that_pass_the_inf_on() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(1, 3, size=(8, 16))
    weight = 5000 * rng.uniform(0.9, 1.1, size=(16, 8))
    want = {"large": x @ weight}
    want["scaled"] = want["large"] * 1e-4
    got = {"large": _fp16(want["large"])}  # past 65504: inf
    got["scaled"] = got["large"] * 1e-4
    tensors = [TensorRange("large", "big_matmul", ("scale_back",)), TensorRange("scaled", "scale_back", ())]
    errors = _measure(got, want)
    assert errors == {"large": math.inf, "scaled": math.inf}
    assert node_gains(tensors, errors) == {"big_matmul": math.inf, "scale_back": 0.0}


def test_the_error_is_relative_to_the_tensors_fp32_magnitude() -> None:
    want = np.array([1000.0, -2000.0, 5.0])
    assert tensor_error(want + np.array([1.0, 0.0, 0.5]), want) == pytest.approx(1.0 / 2000)
    assert tensor_error(want * 7, want * 7) == 0.0
    # A tensor zero in fp32 is measured against the floor, not divided by zero.
    assert tensor_error(np.array([3e-8, 0.0]), np.zeros(2)) == pytest.approx(3e-8 / MAGNITUDE_FLOOR)
    # Non-finite where fp32 has a number: infinite; where fp32 itself is not finite, the element is left out.
    assert tensor_error(np.array([np.nan, 1.0]), np.array([1.0, 1.0])) == math.inf
    assert tensor_error(np.array([np.inf, 1.5]), np.array([np.inf, 2.0])) == pytest.approx(0.25)


def test_errors_keep_the_largest_over_input_sets_and_name_shapes_that_differ() -> None:
    errors = TensorErrors()
    errors.add("t", np.array([1.1, 2.0]), np.array([1.0, 2.0]))
    errors.add("t", np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    assert errors.errors["t"] == pytest.approx(0.05)
    errors.add("u", np.zeros((2, 3)), np.zeros((3, 2)))
    errors.add("u", np.zeros(2), np.zeros(2))
    assert "u" not in errors.errors and "shape [2, 3]" in errors.mismatched["u"]


def test_a_node_with_an_unmeasured_input_or_output_is_unranked_and_keeps_its_place() -> None:
    tensors = [
        TensorRange("p", "producer", ("reader",)),
        TensorRange("q", "reader", ("last",)),
        TensorRange("r", "last", ()),
        TensorRange("s", "side", ()),
    ]
    errors = {"q": 0.5, "r": 0.4, "s": 0.01}  # p was not marked: its producer and its reader are unranked
    gains = node_gains(tensors, errors)
    assert gains == {"last": pytest.approx(-0.1), "side": 0.01}
    ranked = rank_by_gain(["finder_node"], ["producer", "last", "reader", "side"], gains)
    assert [(r.node, r.ranked_by) for r in ranked] == [
        ("finder_node", "finder"),
        ("producer", "magnitude"),
        ("side", "error gain"),  # the ranked nodes swap within the places the ranked ones had
        ("reader", "magnitude"),
        ("last", "error gain"),
    ]
    assert ranked[1].gain is None and ranked[2].gain == 0.01


def test_the_finders_set_stays_first_in_its_order_whatever_the_gains() -> None:
    gains = {"consumer": 0.0, "producer": math.inf, "other": 5.0}
    ranked = rank_by_gain(["consumer", "producer"], ["other", "producer", "consumer"], gains)
    assert [(r.node, r.ranked_by) for r in ranked] == [
        ("consumer", "finder"),
        ("producer", "finder"),
        ("other", "error gain"),
    ]
    assert ranked[1].to_json() == {"node": "producer", "gain": math.inf, "ranked_by": "finder"}
