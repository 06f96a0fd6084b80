"""ONNX models as files and graphs: reading (with external data), saving, facts about a graph (inputs, outputs,
nodes, subgraphs, weights), symbolic dims, and `--profile` shape ranges checked against the inputs.

Layer: above `ops` and the base modules, which are all it may import.
"""
