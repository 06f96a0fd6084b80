"""The native libraries: building the plugin and kernel libraries with CMake, where they go, and the kernels'
C ABI as ctypes sees it.

Layer: beside `prepare`, below `engine`. It may import the base modules (errors, log) only.
"""
