"""Deployment of built plans: a Triton Inference Server model repository from plans and their sidecars.

Layer: below the commands, above `engine`. It reads plans through their sidecars (`engine.plan_files`) and
may import every layer under `engine`; it never imports `tensorrt`, so that a repository can be written on a
machine without TensorRT or a GPU.
"""
