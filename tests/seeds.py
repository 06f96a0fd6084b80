"""Random inputs that are fresh on every run and reproducible on demand: one seed per test run, printed in the
session header; TRTCONVERT_TEST_SEED=N replays a run.

Tests whose thresholds were chosen on measured values (INT8's share of elements within tolerance, its mean and
largest error on calibrated models) draw from tuned_rng instead: the same values on every run, those the
thresholds hold for, so that such a test fails only when the code changes. They passed with fresh draws of run
seeds 1 to 6 too; the seed is pinned so that a draw in their tail cannot fail a run.
"""

from __future__ import annotations

import os
import secrets
import zlib

import numpy as np

SEED = int(os.environ.get("TRTCONVERT_TEST_SEED") or secrets.randbits(32))


def fresh_rng(label: str = "") -> np.random.Generator:
    """A generator seeded from the run's seed and the caller's label (so that call sites draw different values)."""
    return np.random.default_rng([SEED, zlib.crc32(label.encode())])


TUNED_SEED = 20261203


def tuned_rng(label: str = "") -> np.random.Generator:
    """A generator with a fixed seed, for tests whose thresholds were tuned on its draws (see above)."""
    return np.random.default_rng([TUNED_SEED, zlib.crc32(label.encode())])
