"""The commands: `trtconvert` and its subcommands, thin over the layers below.

Layer: the top. It may import every other layer; nothing imports it. Each module is one command (or the
option groups they share), turning flags into a Spec and a report into stdout/stderr and an exit code.
"""
