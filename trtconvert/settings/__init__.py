"""What the user asked and what it resolves to: the Spec (config file and flags as written), the Request (every
choice decided once: target TensorRT, precision plan, build settings, plugin paths), the facts of each TensorRT
version that decide them, and the tolerances.

Layer: below `int8`, beside `checks`. It may import `model`, `ops` and the base modules.
"""
