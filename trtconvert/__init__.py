"""trtconvert: ONNX to TensorRT engines that build the first time."""

__version__ = "0.1.0"
