"""Synthetic text-like images as INT8 calibration data for OCR detectors: paper-coloured backgrounds with
lighting gradients and noise, and lines of dark glyph-like strokes, normalised as PP-OCR normalises its input.

    python benchmarks/text_images.py --input x --shape 1x3x320x320 --samples 32 -o calib.npz

Writes FILE.npz with one array named after the input, shaped (samples, *shape), float32. Calibrating on these
instead of noise gives the detector activations of the kind it sees on real pages. With -o FILE.npy and
--samples 1 it writes the one sample, shaped as --shape, for `trtconvert verify --input x=FILE.npy`: on noise
a detector finds no text and its output stays near zero, which any engine matches.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

# PP-OCR's preprocessing: x / 255, then (x - mean) / std per channel (ImageNet's values).
MEAN = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
STD = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]


def text_image(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """One RGB image in [0, 1], channels first."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    paper = rng.uniform(0.75, 0.98, 3).astype(np.float32)[:, None, None]
    light = 1.0 - 0.15 * ((x / width - rng.uniform()) ** 2 + (y / height - rng.uniform()) ** 2)
    image = paper * light[None] + rng.normal(0, 0.01, (3, height, width)).astype(np.float32)
    ink = rng.uniform(0.0, 0.25, 3).astype(np.float32)
    row = int(rng.integers(4, 16))
    while row < height - 8:
        size = int(rng.integers(8, max(9, min(40, height // 6))))
        col = int(rng.integers(2, max(3, width // 8)))
        end = int(rng.integers(width // 2, width - 2))
        while col < end - size:
            glyph = int(rng.integers(size // 2, size + 1))
            stroke = max(1, size // 8)
            top, left = row, col
            for _ in range(int(rng.integers(2, 5))):  # a few strokes per glyph: bars and stems
                if rng.uniform() < 0.5:
                    r = top + int(rng.integers(0, size))
                    image[:, r : r + stroke, left : left + glyph] = ink[:, None, None]
                else:
                    c = left + int(rng.integers(0, glyph))
                    image[:, top : top + size, c : c + stroke] = ink[:, None, None]
            col += glyph + int(rng.integers(1, size // 2 + 2))
            if rng.uniform() < 0.15:
                col += size  # a space between words
        row += size + int(rng.integers(size // 2, 2 * size))
    return np.clip(image, 0.0, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="the model's input name")
    parser.add_argument("--shape", required=True, help="one sample's shape, e.g. 1x3x320x320 (N x 3 x H x W)")
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args()
    shape = tuple(int(d) for d in args.shape.split("x"))
    batch, channels, height, width = shape
    if channels != 3:
        parser.error("the images have 3 channels")
    rng = np.random.default_rng(args.seed)
    images = np.stack(
        [
            np.stack([(text_image(rng, height, width) - MEAN) / STD for _ in range(batch)])
            for _ in range(args.samples)
        ]
    ).astype(np.float32)
    if args.output.suffix == ".npy":
        if args.samples != 1:
            parser.error("an .npy output holds one sample: give --samples 1, or write an .npz")
        np.save(args.output, images[0])
    else:
        np.savez(args.output, **{args.input: images})
    print(f"{args.output}: {args.samples} samples of {args.input} {args.shape}")


if __name__ == "__main__":
    main()
