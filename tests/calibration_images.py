"""Synthetic calibration images that look like text, not noise: INT8 scales calibrated on uniform noise say
nothing about a vision model's real activations, so the INT8 tests feed what OCR models are made for."""

from __future__ import annotations

import numpy as np


def _glyph(
    image: np.ndarray, rng: np.random.Generator, left: int, top: int, height: int, width: int, ink: float
):
    """Draw one glyph: two to four strokes (horizontal, vertical or diagonal) in a height x width box."""
    for _ in range(rng.integers(2, 5)):
        thickness = int(rng.integers(2, 4))
        kind = rng.integers(0, 3)
        if kind == 0:
            row = top + int(rng.integers(0, height))
            image[:, row : row + thickness, left : left + width] = ink
        elif kind == 1:
            column = left + int(rng.integers(0, max(1, width)))
            image[:, top : top + height, column : column + thickness] = ink
        else:
            for step in range(height):
                column = left + step * width // height
                image[:, top + step, column : column + thickness] = ink


def text_images(count: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` images (count x 3 x height x width, float32 in [-1, 1], PaddleOCR's normalisation): a smooth
    light background with a slight colour cast, one line of dark glyphs, half of them upside down (what the
    PP-OCR direction classifier tells apart)."""
    rows, columns = np.mgrid[0:height, 0:width].astype(np.float32)
    images = np.empty((count, 3, height, width), np.float32)
    for index in range(count):
        wave = np.sin(rng.uniform(0.5, 2.0) * np.pi * columns / width + rng.uniform(0, 6))
        background = 0.85 + 0.1 * wave * np.cos(rng.uniform(0, 2) * rows / height)
        image = background[None] * rng.uniform(0.9, 1.05, size=(3, 1, 1))
        ink = rng.uniform(0.0, 0.25)
        glyph_height = max(2, int(height * rng.uniform(0.45, 0.7)))
        top = int(rng.integers(1, max(2, height - glyph_height - 1)))
        left = int(rng.integers(1, max(2, min(10, width // 4))))
        while left < width - 4:
            glyph_width = max(2, int(glyph_height * rng.uniform(0.5, 1.0)))
            _glyph(image, rng, left, top, glyph_height, glyph_width, ink)
            left += glyph_width + int(rng.integers(2, 8))
        if rng.random() < 0.5:
            image = image[:, ::-1, ::-1]
        images[index] = (np.clip(image, 0.0, 1.0) - 0.5) / 0.5
    return images
