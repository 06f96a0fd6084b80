"""INT8: calibration data read and checked against the model, TensorRT's calibration cache, and the Q/DQ
nodes written for TensorRT 11 (onnxruntime's static quantizer).

Layer: below `prepare`. It may import `settings`, `checks`, `model`, `ops` and the base modules.
"""
