"""The CPU stages of `prepare`, in the order `pipeline` runs them: freeze, fold, rewrite (graph-surgeon rules),
precision, placeholder dims, parser checks; and `inspect` of an ONNX model, which reports what they would do.

Layer: below `engine`, beside `native`. It may import `int8`, `settings`, `checks`, `model`, `ops` and the base
modules; it never imports `engine` (no TensorRT needed to prepare a model).
"""
