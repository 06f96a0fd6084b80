"""Everything that talks to TensorRT: the loader chain and the build, plans and their sidecars, plugin
loading, TensorRT's log, and verify, bench and inspect of plans; also what this machine has (TensorRT, a GPU).

Layer: below the commands. It may import `native`, `prepare` and every layer under them. It is the only layer
that imports `tensorrt` or the CUDA bindings, and only inside functions, so that importing it needs neither.
"""
