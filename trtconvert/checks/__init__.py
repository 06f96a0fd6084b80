"""Checks against onnxruntime: the values fed to models (random, given, frozen), onnxruntime sessions that run
plugin nodes through their CPU reference, and one model's outputs compared with another's.

Layer: below `int8`, beside `settings`. It may import `model`, `ops` and the base modules.
"""
