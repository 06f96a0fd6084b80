"""Calibration data: the three layouts, the checks against the model's inputs, batching and random data."""

from __future__ import annotations

import os

import numpy as np
import pytest
from seeds import fresh_rng

from trtconvert.errors import BadInput
from trtconvert.int8.calibration import CalibrationData, load_calibration_data, random_calibration_data
from trtconvert.model.info import GraphTensor
from trtconvert.model.profiles import parse_profile

IMAGE = GraphTensor("image", "float32", ("batch", 3, "height", "width"))
IDS = GraphTensor("ids", "int64", (1, 4))
INPUTS = [IMAGE, IDS]


def _samples(count: int, label: str, height: int = 8, width: int = 8) -> dict[str, np.ndarray]:
    rng = fresh_rng(label)
    return {
        "image": rng.uniform(-1, 1, size=(count, 1, 3, height, width)).astype(np.float32),
        "ids": rng.integers(0, 100, size=(count, 1, 4)).astype(np.int64),
    }


def test_one_npz(tmp_path):
    arrays = _samples(5, "one npz")
    np.savez(tmp_path / "calib.npz", **arrays)
    data = load_calibration_data(tmp_path / "calib.npz", INPUTS)
    assert isinstance(data, CalibrationData)
    assert data.samples == 5 and not data.timing_only
    assert str(tmp_path / "calib.npz") in data.source
    np.testing.assert_array_equal(data.arrays["image"], arrays["image"])
    assert data.arrays["ids"].dtype == np.int64


def test_folder_of_npz_concatenates_in_sorted_file_order(tmp_path):
    first, second = _samples(2, "npz a"), _samples(3, "npz b")
    # Written in reverse order: the loader sorts by name, not by creation.
    np.savez(tmp_path / "b.npz", **second)
    np.savez(tmp_path / "a.npz", **first)
    (tmp_path / "notes.txt").write_text("ignored")
    data = load_calibration_data(tmp_path, INPUTS)
    assert data.samples == 5
    np.testing.assert_array_equal(data.arrays["image"][:2], first["image"])
    np.testing.assert_array_equal(data.arrays["image"][2:], second["image"])
    assert "2 .npz files" in data.source


def test_folder_of_npy_per_input(tmp_path):
    arrays = _samples(4, "npy")
    for name, array in arrays.items():
        np.save(tmp_path / f"{name}.npy", array)
    data = load_calibration_data(tmp_path, INPUTS)
    assert data.samples == 4
    np.testing.assert_array_equal(data.arrays["ids"], arrays["ids"])


def test_batches_of_one_are_input_shaped_in_model_dtypes(tmp_path):
    arrays = _samples(3, "batches")
    arrays["image"] = arrays["image"].astype(np.float64)  # safe to narrow: float64 data for a float32 input
    arrays["ids"] = arrays["ids"].astype(np.int32)  # int32 data widens to int64
    np.savez(tmp_path / "calib.npz", **arrays)
    feeds = list(load_calibration_data(tmp_path / "calib.npz", INPUTS).batches())
    assert len(feeds) == 3
    assert feeds[0]["image"].shape == (1, 3, 8, 8) and feeds[0]["image"].dtype == np.float32
    assert feeds[2]["ids"].dtype == np.int64
    np.testing.assert_allclose(feeds[1]["image"], arrays["image"][1].astype(np.float32))


def test_larger_batches_join_samples_on_the_dynamic_first_axis():
    image = GraphTensor("image", "float32", ("batch", 3, 4, 4))
    values = np.arange(5 * 3 * 16, dtype=np.float32).reshape(5, 1, 3, 4, 4)
    data = CalibrationData({"image": values}, 5, "test", (image,))
    feeds = list(data.batches(2))
    assert [f["image"].shape[0] for f in feeds] == [2, 2, 1]
    np.testing.assert_array_equal(feeds[1]["image"], values[2:4, 0])


def test_larger_batches_refused_for_a_static_first_axis():
    data = CalibrationData({"ids": np.zeros((4, 1, 4), np.int64)}, 4, "test", (IDS,))
    with pytest.raises(BadInput, match="static first axis"):
        list(data.batches(2))


def test_missing_and_unknown_inputs_are_named(tmp_path):
    arrays = _samples(2, "names")
    np.savez(tmp_path / "calib.npz", image=arrays["image"], idz=arrays["ids"])
    with pytest.raises(BadInput) as error:
        load_calibration_data(tmp_path / "calib.npz", INPUTS)
    message = str(error.value)
    assert "no data for input(s) ids" in message and "idz name no model input" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("dtype", "target", "ok"),
    [
        (np.float64, "float32", True),
        (np.float16, "float32", True),
        (np.uint8, "float32", True),  # 8-bit images for a float input
        (np.float32, "int64", False),
        (np.float64, "int32", False),
        (np.int64, "int32", True),  # narrowed, values checked
        (np.complex64, "float32", False),
    ],
)
def test_dtypes_cast_only_within_their_kind_or_wider(tmp_path, dtype, target, ok):
    model_input = GraphTensor("x", target, (2,))
    np.savez(tmp_path / "c.npz", x=np.ones((3, 2), dtype=dtype))
    if ok:
        data = load_calibration_data(tmp_path / "c.npz", [model_input])
        assert data.arrays["x"].dtype == np.dtype(target)
    else:
        with pytest.raises(BadInput, match=f"cannot be cast safely to the input's type {target}"):
            load_calibration_data(tmp_path / "c.npz", [model_input])


def test_integers_that_do_not_fit_the_input_type_are_refused(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.array([[1, 2**40]], dtype=np.int64))
    with pytest.raises(BadInput, match=r"do not fit the input's type int32"):
        load_calibration_data(tmp_path / "c.npz", [GraphTensor("x", "int32", (2,))])


def test_float_values_beyond_float16_range_are_refused(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.array([[1.0, 1e6]], dtype=np.float32))
    with pytest.raises(BadInput, match="exceed the range of the input's type float16"):
        load_calibration_data(tmp_path / "c.npz", [GraphTensor("x", "float16", (2,))])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_refused(tmp_path, bad):
    arrays = _samples(2, "non finite")
    arrays["image"][1, 0, 2, 3, 3] = bad
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(BadInput, match=r"c.npz, input 'image': 1 value\(s\) are NaN or infinite"):
        load_calibration_data(tmp_path / "c.npz", INPUTS)


def test_rank_must_be_input_rank_plus_one(tmp_path):
    arrays = _samples(2, "rank")
    arrays["image"] = arrays["image"][:, 0]  # samples without the model's batch axis
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(
        BadInput, match=r"has rank 4, but input 'image' \[batch, 3, height, width\] needs rank 5"
    ):
        load_calibration_data(tmp_path / "c.npz", INPUTS)


def test_static_dims_must_match(tmp_path):
    arrays = _samples(2, "static")
    arrays["ids"] = np.zeros((2, 1, 5), np.int64)
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(BadInput, match=r"has 5 on axis 1, but input 'ids' \[1, 4\] fixes it at 4"):
        load_calibration_data(tmp_path / "c.npz", INPUTS)


def test_dynamic_dims_must_lie_in_the_profile(tmp_path):
    np.savez(tmp_path / "c.npz", **_samples(2, "profile", height=40, width=8))
    profile = parse_profile("image=1x3x8x8:1x3x16x16:1x3x32x32,ids=1x4")
    with pytest.raises(BadInput, match=r"has 40 on axis 2, outside the profile's 8\.\.32 for 'image'"):
        load_calibration_data(tmp_path / "c.npz", INPUTS, profile)
    # Without a profile the same samples are fine: only the model's own dims are checked.
    assert load_calibration_data(tmp_path / "c.npz", INPUTS).samples == 2


def test_inputs_need_the_same_sample_count(tmp_path):
    arrays = _samples(3, "counts")
    arrays["ids"] = arrays["ids"][:2]
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(BadInput, match=r"different sample counts \(image 3, ids 2\)"):
        load_calibration_data(tmp_path / "c.npz", INPUTS)


def test_zero_samples_refused(tmp_path):
    np.savez(tmp_path / "c.npz", **_samples(0, "empty"))
    with pytest.raises(BadInput, match="holds no samples"):
        load_calibration_data(tmp_path / "c.npz", INPUTS)


def test_files_in_a_folder_must_agree_on_inputs_and_shapes(tmp_path):
    np.savez(tmp_path / "a.npz", **_samples(2, "fa"))
    np.savez(tmp_path / "b.npz", image=_samples(2, "fb")["image"])
    with pytest.raises(BadInput, match=r"b.npz lacks array\(s\) ids"):
        load_calibration_data(tmp_path, INPUTS)
    np.savez(tmp_path / "b.npz", **_samples(2, "fb", height=16))
    with pytest.raises(BadInput, match="differ in shape between files"):
        load_calibration_data(tmp_path, INPUTS)


def test_pickled_object_arrays_are_refused(tmp_path):
    arrays = _samples(2, "pickle")
    objects = np.empty(2, dtype=object)
    objects[:] = [{"a": 1}, {"b": 2}]
    np.savez(tmp_path / "c.npz", image=arrays["image"], ids=objects)
    with pytest.raises(BadInput, match="object arrays are not read"):
        load_calibration_data(tmp_path / "c.npz", INPUTS)
    np.save(tmp_path / "ids.npy", objects, allow_pickle=True)
    folder = tmp_path / "npy"
    folder.mkdir()
    os.replace(tmp_path / "ids.npy", folder / "ids.npy")
    np.save(folder / "image.npy", arrays["image"])
    with pytest.raises(BadInput, match=r"ids.npy cannot be read as .npy .*object arrays are not read"):
        load_calibration_data(folder, INPUTS)


def test_corrupt_and_truncated_files_are_refused(tmp_path):
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(BadInput, match=r"garbage.npz is not a .npz file \(no zip header\)"):
        load_calibration_data(tmp_path / "garbage.npz", INPUTS)
    np.savez(tmp_path / "whole.npz", **_samples(2, "truncated"))
    data = (tmp_path / "whole.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInput, match="cut.npz cannot be read"):
        load_calibration_data(tmp_path / "cut.npz", INPUTS)
    folder = tmp_path / "npy"
    folder.mkdir()
    (folder / "image.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    np.save(folder / "ids.npy", _samples(2, "ids")["ids"])
    with pytest.raises(BadInput, match="image.npy cannot be read as .npy"):
        load_calibration_data(folder, INPUTS)
    (folder / "image.npy").write_bytes(b"plain text")
    with pytest.raises(BadInput, match=r"image.npy is not a .npy file \(no NUMPY header\)"):
        load_calibration_data(folder, INPUTS)


def test_wrong_paths_are_refused(tmp_path):
    with pytest.raises(BadInput, match="calibration data not found"):
        load_calibration_data(tmp_path / "absent.npz", INPUTS)
    np.save(tmp_path / "single.npy", np.zeros((2, 2)))
    with pytest.raises(BadInput, match=r"give a .npz with one array per input name"):
        load_calibration_data(tmp_path / "single.npy", INPUTS)
    os.replace(tmp_path / "single.npy", tmp_path / "renamed.npz")
    with pytest.raises(BadInput, match=r"is a single .npy array, not a .npz"):
        load_calibration_data(tmp_path / "renamed.npz", INPUTS)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInput, match="holds no .npz or .npy files"):
        load_calibration_data(empty, INPUTS)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    np.savez(mixed / "a.npz", **_samples(1, "mixed"))
    np.save(mixed / "image.npy", np.zeros((1, 1, 3, 8, 8)))
    with pytest.raises(BadInput, match="both .npz and .npy"):
        load_calibration_data(mixed, INPUTS)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "calib.npz"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="is not a regular file"):
        load_calibration_data(fifo, INPUTS)


def test_unsupported_input_type_is_refused(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.ones((2, 2), np.float32))
    with pytest.raises(BadInput, match="input 'x' of type bfloat16 is not supported"):
        load_calibration_data(tmp_path / "c.npz", [GraphTensor("x", "bfloat16", (2,))])


def test_random_data_is_seeded_typed_and_marked_timing_only():
    shapes = {"image": (1, 3, 8, 8), "ids": (1, 4)}
    first = random_calibration_data(INPUTS, shapes, samples=3, seed=7)
    again = random_calibration_data(INPUTS, shapes, samples=3, seed=7)
    assert first.timing_only and "for timing only" in first.describe()
    assert first.samples == 3 and first.arrays["image"].shape == (3, 1, 3, 8, 8)
    assert first.arrays["ids"].dtype == np.int64
    np.testing.assert_array_equal(first.arrays["image"], again.arrays["image"])
    assert not np.array_equal(first.arrays["image"][0], first.arrays["image"][1])
    with pytest.raises(BadInput, match="no shape for input"):
        random_calibration_data(INPUTS, {"image": (1, 3, 8, 8)}, samples=1, seed=0)
