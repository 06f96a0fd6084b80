"""Custom operators of prepared graphs: the DynamicTRTResize contract (shared with the C++ plugin), its node
semantics and the float64 cubic reference that the CPU checks and the kernel tests use as the oracle.

Layer: the lowest but the base modules; it imports nothing else of trtconvert.
"""
