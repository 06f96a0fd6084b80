"""Random inputs that are fresh on every run and reproducible on demand: one seed per test run, printed in the
session header; TRTCONVERT_TEST_SEED=N replays a run."""

from __future__ import annotations

import os
import secrets
import zlib

import numpy as np

SEED = int(os.environ.get("TRTCONVERT_TEST_SEED") or secrets.randbits(32))


def fresh_rng(label: str = "") -> np.random.Generator:
    """A generator seeded from the run's seed and the caller's label (so that call sites draw different values)."""
    return np.random.default_rng([SEED, zlib.crc32(label.encode())])
