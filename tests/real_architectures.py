"""Small models shaped the way real exporters (torch.onnx, tf2onnx, paddle2onnx) write common architectures, with
their idioms: shape arithmetic through Shape/Gather/Unsqueeze/Concat, masks built with Cast/Sub/Mul/Where, recurrent
ops with initial states as inputs or initializers, control flow with runtime trip counts, data-dependent output
sizes, Resize with sizes computed from Shape, fp16 weights, and the opset-to-opset changes of axes and splits.

Each factory returns a model under 1 MB that onnxruntime runs in milliseconds. ``ARCHITECTURES`` maps a name to its
factory and to the steps of the round trip (``STEPS``) whose outcome is not the usual one (prepare exits 0, build
exits 3 without TensorRT): what the model cannot do, as the contract says it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
F16 = TensorProto.FLOAT16
I64 = TensorProto.INT64
I32 = TensorProto.INT32
B = TensorProto.BOOL
INFO = helper.make_tensor_value_info
node = helper.make_node


class Weights:
    """Initializers of one model: seeded random or given arrays, under readable names."""

    def __init__(self, seed: int, dtype=np.float32) -> None:
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype
        self.tensors: list[onnx.TensorProto] = []

    def random(self, name: str, *shape: int, scale: float = 0.3) -> str:
        return self.array(name, self.rng.normal(0, scale, size=shape).astype(self.dtype))

    def array(self, name: str, value) -> str:
        self.tensors.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def ints(self, name: str, *values: int) -> str:
        return self.array(name, np.array(values, np.int64))

    def scalar(self, name: str, value, dtype=None) -> str:
        return self.array(name, np.array(value, dtype or self.dtype))


def _model(name: str, nodes, inputs, outputs, weights: Weights, opset: int, ir: int = 8) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs, weights.tensors)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset)],
        producer_name="pytorch",
        producer_version="2.1.0",
    )
    model.ir_version = ir
    onnx.checker.check_model(model, full_check=True)
    return model


def _unsqueeze(opset: int, w: Weights, x: str, out: str, axes: list[int], name: str) -> onnx.NodeProto:
    if opset >= 13:
        return node("Unsqueeze", [x, w.ints(f"{name}_axes", *axes)], [out], name=name)
    return node("Unsqueeze", [x], [out], name=name, axes=axes)


def _squeeze(opset: int, w: Weights, x: str, out: str, axes: list[int], name: str) -> onnx.NodeProto:
    if opset >= 13:
        return node("Squeeze", [x, w.ints(f"{name}_axes", *axes)], [out], name=name)
    return node("Squeeze", [x], [out], name=name, axes=axes)


def _reduce_mean(opset: int, w: Weights, x: str, out: str, axes: list[int], name: str) -> onnx.NodeProto:
    if opset >= 18:
        return node("ReduceMean", [x, w.ints(f"{name}_axes", *axes)], [out], name=name, keepdims=1)
    return node("ReduceMean", [x], [out], name=name, axes=axes, keepdims=1)


def _layer_norm(opset: int, w: Weights, x: str, out: str, width: int, name: str) -> list[onnx.NodeProto]:
    """LayerNormalization at opset 17+, else the decomposition torch writes: ReduceMean, Sub, Pow 2, ReduceMean,
    Add eps, Sqrt, Div, Mul gamma, Add beta."""
    gamma = w.array(f"{name}.weight", (1 + 0.1 * w.rng.normal(size=width)).astype(np.float32))
    beta = w.random(f"{name}.bias", width, scale=0.1)
    if opset >= 17:
        return [node("LayerNormalization", [x, gamma, beta], [out], name=name, axis=-1, epsilon=1e-5)]
    return [
        _reduce_mean(opset, w, x, f"{name}_mean", [-1], f"{name}/ReduceMean"),
        node("Sub", [x, f"{name}_mean"], [f"{name}_centered"], name=f"{name}/Sub"),
        node("Pow", [f"{name}_centered", w.scalar(f"{name}_two", 2.0)], [f"{name}_sq"], name=f"{name}/Pow"),
        _reduce_mean(opset, w, f"{name}_sq", f"{name}_var", [-1], f"{name}/ReduceMean_1"),
        node("Add", [f"{name}_var", w.scalar(f"{name}_eps", 1e-5)], [f"{name}_var_eps"], name=f"{name}/Add"),
        node("Sqrt", [f"{name}_var_eps"], [f"{name}_std"], name=f"{name}/Sqrt"),
        node("Div", [f"{name}_centered", f"{name}_std"], [f"{name}_norm"], name=f"{name}/Div"),
        node("Mul", [f"{name}_norm", gamma], [f"{name}_scaled"], name=f"{name}/Mul"),
        node("Add", [f"{name}_scaled", beta], [out], name=f"{name}/Add_1"),
    ]


def _dim_of(opset: int, w: Weights, x: str, axis: int, out: str, name: str) -> list[onnx.NodeProto]:
    """torch's `x.size(axis)` as a 1-element tensor: Shape -> Gather(axis) -> Unsqueeze(0)."""
    return [
        node("Shape", [x], [f"{name}_shape"], name=f"{name}/Shape"),
        node(
            "Gather",
            [f"{name}_shape", w.scalar(f"{name}_index", axis, np.int64)],
            [f"{name}_scalar"],
            name=f"{name}/Gather",
            axis=0,
        ),
        _unsqueeze(opset, w, f"{name}_scalar", out, [0], f"{name}/Unsqueeze"),
    ]


# ---- 1. transformer encoders as torch exports them


def transformer_encoder(
    opset: int = 17, mask_type: int = I64, token_types: bool = False, dims=("batch", "sequence")
) -> onnx.ModelProto:
    """BERT-like: input_ids and attention_mask [batch, sequence] (token_type_ids too where asked) -> embeddings
    (Gather, position ids from Range over the sequence length) -> LayerNorm -> one attention block with heads split
    by Shape/Gather/Unsqueeze/Concat/Reshape, an additive mask (Cast/Sub/Mul for an int mask, Where for a bool one)
    -> FFN with erf-Gelu -> LayerNorm; outputs last_hidden_state and a tanh pooler over token 0."""
    w = Weights(17)
    width, heads, head = 16, 2, 8
    vocab, positions = 32, 64
    batch, seq = dims
    n: list[onnx.NodeProto] = []
    n.append(
        node(
            "Gather",
            [w.random("embeddings.word_embeddings.weight", vocab, width), "input_ids"],
            ["words"],
            name="/embeddings/word_embeddings/Gather",
            axis=0,
        )
    )
    n += _dim_of(opset, w, "input_ids", 1, "seq_len", "/embeddings/seq")
    n.append(_squeeze(opset, w, "seq_len", "seq_scalar", [0], "/embeddings/Squeeze"))
    n.append(
        node(
            "Range",
            [w.scalar("zero_i", 0, np.int64), "seq_scalar", w.scalar("one_i", 1, np.int64)],
            ["position_ids"],
            name="/embeddings/Range",
        )
    )
    n.append(
        node(
            "Gather",
            [w.random("embeddings.position_embeddings.weight", positions, width), "position_ids"],
            ["positions"],
            name="/embeddings/position_embeddings/Gather",
            axis=0,
        )
    )
    n.append(node("Add", ["words", "positions"], ["emb0"], name="/embeddings/Add"))
    emb = "emb0"
    if token_types:
        n.append(
            node(
                "Gather",
                [w.random("embeddings.token_type_embeddings.weight", 2, width), "token_type_ids"],
                ["types"],
                name="/embeddings/token_type_embeddings/Gather",
                axis=0,
            )
        )
        n.append(node("Add", ["emb0", "types"], ["emb1"], name="/embeddings/Add_1"))
        emb = "emb1"
    n += _layer_norm(opset, w, emb, "hidden0", width, "/embeddings/LayerNorm")

    # The additive mask: [batch, 1, 1, sequence], 0 where attended and a large negative number elsewhere.
    n.append(_unsqueeze(opset, w, "attention_mask", "mask4", [1, 2], "/Unsqueeze_mask"))
    if mask_type == B:
        n.append(
            node(
                "Where",
                ["mask4", w.scalar("attend", 0.0), w.scalar("neg_min", np.finfo(np.float32).min)],
                ["additive"],
                name="/Where",
            )
        )
    else:
        n.append(node("Cast", ["mask4"], ["mask_f"], name="/Cast", to=F))
        n.append(node("Sub", [w.scalar("one_f", 1.0), "mask_f"], ["inverted"], name="/Sub"))
        n.append(
            node("Mul", ["inverted", w.scalar("min_f", np.finfo(np.float32).min)], ["additive"], name="/Mul")
        )

    n += _dim_of(opset, w, "hidden0", 0, "b_dim", "/attn/batch")
    n += _dim_of(opset, w, "hidden0", 1, "s_dim", "/attn/seq")
    heads_shape = w.ints("heads_shape", heads, head)
    n.append(node("Concat", ["b_dim", "s_dim", heads_shape], ["split_shape"], name="/attn/Concat", axis=0))
    for part in ("query", "key", "value"):
        n.append(
            node(
                "MatMul",
                ["hidden0", w.random(f"attn.{part}.weight", width, width)],
                [f"{part}_mm"],
                name=f"/attn/{part}/MatMul",
            )
        )
        n.append(
            node(
                "Add",
                [f"{part}_mm", w.random(f"attn.{part}.bias", width, scale=0.1)],
                [f"{part}_lin"],
                name=f"/attn/{part}/Add",
            )
        )
        n.append(
            node("Reshape", [f"{part}_lin", "split_shape"], [f"{part}_heads"], name=f"/attn/{part}/Reshape")
        )
    n.append(node("Transpose", ["query_heads"], ["q"], name="/attn/Transpose_q", perm=[0, 2, 1, 3]))
    n.append(node("Transpose", ["key_heads"], ["kt"], name="/attn/Transpose_k", perm=[0, 2, 3, 1]))
    n.append(node("Transpose", ["value_heads"], ["v"], name="/attn/Transpose_v", perm=[0, 2, 1, 3]))
    n.append(node("MatMul", ["q", "kt"], ["scores"], name="/attn/MatMul"))
    n.append(node("Div", ["scores", w.scalar("sqrt_head", np.sqrt(head))], ["scaled"], name="/attn/Div"))
    n.append(node("Add", ["scaled", "additive"], ["masked"], name="/attn/Add_mask"))
    n.append(node("Softmax", ["masked"], ["probs"], name="/attn/Softmax", axis=-1))
    n.append(node("MatMul", ["probs", "v"], ["context"], name="/attn/MatMul_1"))
    n.append(node("Transpose", ["context"], ["context_t"], name="/attn/Transpose_ctx", perm=[0, 2, 1, 3]))
    n.append(
        node(
            "Concat",
            ["b_dim", "s_dim", w.ints("width_shape", width)],
            ["merge_shape"],
            name="/attn/Concat_1",
            axis=0,
        )
    )
    n.append(node("Reshape", ["context_t", "merge_shape"], ["context_m"], name="/attn/Reshape_merge"))
    n.append(
        node(
            "MatMul",
            ["context_m", w.random("attn.output.weight", width, width)],
            ["attn_out"],
            name="/attn/output/MatMul",
        )
    )
    n.append(node("Add", ["attn_out", "hidden0"], ["residual"], name="/attn/output/Add"))
    n += _layer_norm(opset, w, "residual", "hidden1", width, "/attn/output/LayerNorm")
    # FFN with torch's exact Gelu: x * 0.5 * (1 + erf(x / sqrt(2))).
    n.append(node("MatMul", ["hidden1", w.random("ffn.up.weight", width, 32)], ["up"], name="/ffn/up/MatMul"))
    n.append(node("Div", ["up", w.scalar("sqrt2", np.sqrt(2.0))], ["up_s"], name="/ffn/Div"))
    n.append(node("Erf", ["up_s"], ["up_erf"], name="/ffn/Erf"))
    n.append(node("Add", ["up_erf", w.scalar("one_g", 1.0)], ["up_erf1"], name="/ffn/Add"))
    n.append(node("Mul", ["up", "up_erf1"], ["up_g"], name="/ffn/Mul"))
    n.append(node("Mul", ["up_g", w.scalar("half", 0.5)], ["gelu"], name="/ffn/Mul_1"))
    n.append(
        node("MatMul", ["gelu", w.random("ffn.down.weight", 32, width)], ["down"], name="/ffn/down/MatMul")
    )
    n.append(node("Add", ["down", "hidden1"], ["ffn_res"], name="/ffn/Add_1"))
    n += _layer_norm(opset, w, "ffn_res", "last_hidden_state", width, "/ffn/LayerNorm")
    n.append(
        node(
            "Gather",
            ["last_hidden_state", w.scalar("first", 0, np.int64)],
            ["cls"],
            name="/pooler/Gather",
            axis=1,
        )
    )
    n.append(
        node(
            "Gemm",
            ["cls", w.random("pooler.dense.weight", width, width), w.random("pooler.dense.bias", width)],
            ["pooled_lin"],
            name="/pooler/dense/Gemm",
            transB=1,
        )
    )
    n.append(node("Tanh", ["pooled_lin"], ["pooler_output"], name="/pooler/Tanh"))
    inputs = [INFO("input_ids", I64, [batch, seq]), INFO("attention_mask", mask_type, [batch, seq])]
    if token_types:
        inputs.append(INFO("token_type_ids", I64, [batch, seq]))
    outputs = [INFO("last_hidden_state", F, [batch, seq, width]), INFO("pooler_output", F, [batch, width])]
    return _model("encoder", n, inputs, outputs, w, opset)


def transformer_encoder_decomposed() -> onnx.ModelProto:
    """Opset 13 with LayerNorm written out (ReduceMean axes as an attribute), a bool mask through Where, and
    token_type_ids: three inputs sharing `batch` and `sequence`."""
    return transformer_encoder(opset=13, mask_type=B, token_types=True)


def transformer_encoder_opset14_odd_dims() -> onnx.ModelProto:
    """Opset 14, decomposed LayerNorm, dims named as some exporters write them: `batch_size` and `sequence_length`
    of a tf2onnx export become `unk__123`-style placeholders here."""
    return transformer_encoder(opset=14, dims=("unk__123", "unk__124"))


def transformer_encoder_opset18() -> onnx.ModelProto:
    """Opset 18: ReduceMean is not used (LayerNormalization), but Squeeze/Unsqueeze axes are inputs."""
    return transformer_encoder(opset=18, dims=("batch_size", "seq.len"))


# ---- 2. recurrent


def lstm_seq_first(initial_as_inputs: bool = True, bidirectional: bool = False) -> onnx.ModelProto:
    """torch nn.LSTM (batch_first=False): X [sequence, batch, 8], h0/c0 [directions, batch, 16] as inputs or as
    zero initializers, W/R/B initializers, no sequence_lens; Y [sequence, directions, batch, 16] -> Transpose and
    Reshape to [sequence, batch, directions*16], and Y_h, Y_c."""
    w = Weights(2)
    directions = 2 if bidirectional else 1
    hidden = 16
    w.random("W", directions, 4 * hidden, 8)
    w.random("R", directions, 4 * hidden, hidden)
    w.random("B", directions, 8 * hidden, scale=0.1)
    inputs = [INFO("input", F, ["sequence", "batch", 8])]
    if initial_as_inputs:
        inputs += [INFO("h0", F, [directions, "batch", hidden]), INFO("c0", F, [directions, "batch", hidden])]
        states = ["h0", "c0"]
    else:
        states = []
    n = []
    if not initial_as_inputs:
        # torch without h0: zeros expanded to [directions, batch, hidden] from the input's batch dim.
        n += _dim_of(13, w, "input", 1, "batch_1", "/lstm/batch")
        n.append(
            node(
                "Concat",
                [w.ints("dirs", directions), "batch_1", w.ints("hid", hidden)],
                ["h_shape"],
                name="/lstm/Concat",
                axis=0,
            )
        )
        n.append(
            node(
                "ConstantOfShape",
                ["h_shape"],
                ["zeros_h"],
                name="/lstm/ConstantOfShape",
                value=numpy_helper.from_array(np.zeros(1, np.float32)),
            )
        )
        states = ["zeros_h", "zeros_h"]
    n.append(
        node(
            "LSTM",
            ["input", "W", "R", "B", "", *states],
            ["Y", "Y_h", "Y_c"],
            name="/lstm/LSTM",
            hidden_size=hidden,
            direction="bidirectional" if bidirectional else "forward",
        )
    )
    n.append(node("Transpose", ["Y"], ["Y_t"], name="/lstm/Transpose", perm=[0, 2, 1, 3]))
    n.append(node("Reshape", ["Y_t", w.ints("out_shape", 0, 0, -1)], ["output"], name="/lstm/Reshape"))
    outputs = [
        INFO("output", F, ["sequence", "batch", directions * hidden]),
        INFO("Y_h", F, [directions, "batch", hidden]),
        INFO("Y_c", F, [directions, "batch", hidden]),
    ]
    return _model("lstm", n, inputs, outputs, w, 13)


def lstm_zero_state_bidirectional() -> onnx.ModelProto:
    return lstm_seq_first(initial_as_inputs=False, bidirectional=True)


def gru_with_sequence_lens() -> onnx.ModelProto:
    """tf2onnx-style GRU: a Keras input `input_1:0` [unk__12, unk__13, 8] (batch first) -> Transpose -> GRU with
    linear_before_reset, sequence_lens an int32 input [unk__12], initial_h an initializer broadcast over batch by
    Expand; output Y_h squeezed to [batch, 16]."""
    w = Weights(3)
    hidden = 16
    w.random("W", 1, 3 * hidden, 8)
    w.random("R", 1, 3 * hidden, hidden)
    w.random("B", 1, 6 * hidden, scale=0.1)
    n = [node("Transpose", ["input_1:0"], ["x_t"], name="transpose_in", perm=[1, 0, 2])]
    n += _dim_of(13, w, "input_1:0", 0, "batch_1", "batch_of")
    n.append(
        node(
            "Concat",
            [w.ints("one_d", 1), "batch_1", w.ints("hid_d", hidden)],
            ["h_shape"],
            name="h_shape_concat",
            axis=0,
        )
    )
    n.append(node("Expand", [w.random("initial_h", 1, 1, hidden), "h_shape"], ["h0"], name="expand_h0"))
    n.append(
        node(
            "GRU",
            ["x_t", "W", "R", "B", "seq_lens:0", "h0"],
            ["Y", "Y_h"],
            name="gru",
            hidden_size=hidden,
            linear_before_reset=1,
        )
    )
    n.append(_squeeze(13, w, "Y_h", "Identity:0", [0], "squeeze_h"))
    inputs = [INFO("input_1:0", F, ["unk__12", "unk__13", 8]), INFO("seq_lens:0", I32, ["unk__12"])]
    outputs = [INFO("Identity:0", F, ["unk__12", hidden])]
    model = _model("tf2onnx", n, inputs, outputs, w, 13)
    model.producer_name = "tf2onnx"
    return model


# ---- 3. control flow


def loop_greedy_decode() -> onnx.ModelProto:
    """A decoder-style Loop: max_length (int64 scalar input) trips, a carried state [batch, 16] updated by a
    MatMul/Tanh, a token chosen by ArgMax each step as a scan output, stopped early when every token is 0;
    tokens [steps, batch] transposed to [batch, steps]."""
    w = Weights(4)
    body = helper.make_graph(
        [
            node("MatMul", ["state_in", "Wb"], ["mm"], name="body/MatMul"),
            node("Tanh", ["mm"], ["state_out"], name="body/Tanh"),
            node("ArgMax", ["state_out"], ["token"], name="body/ArgMax", axis=1, keepdims=0),
            node("ReduceMax", ["token"], ["largest"], name="body/ReduceMax", keepdims=0),
            node("Greater", ["largest", "zero_tok"], ["cond_out"], name="body/Greater"),
        ],
        "decode_step",
        [INFO("i", I64, []), INFO("cond_in", B, []), INFO("state_in", F, ["batch", 16])],
        [INFO("cond_out", B, []), INFO("state_out", F, ["batch", 16]), INFO("token", I64, ["batch"])],
    )
    w.random("Wb", 16, 16, scale=1.0)
    w.scalar("zero_tok", 0, np.int64)
    n = [
        node(
            "Loop",
            ["max_length", w.scalar("go", True, np.bool_), "encoder_state"],
            ["final_state", "tokens_t"],
            name="/decoder/Loop",
            body=body,
        ),
        node("Transpose", ["tokens_t"], ["tokens"], name="/decoder/Transpose", perm=[1, 0]),
    ]
    inputs = [INFO("encoder_state", F, ["batch", 16]), INFO("max_length", I64, [])]
    outputs = [INFO("final_state", F, ["batch", 16]), INFO("tokens", I64, ["batch", "steps"])]
    return _model("loop", n, inputs, outputs, w, 13)


def loop_trip_count_from_shape() -> onnx.ModelProto:
    """A Loop whose trip count is the input's sequence length (Shape -> Gather), accumulating a running sum over
    time steps with Gather(i) inside the body (torch.jit's script loop over x.size(1))."""
    w = Weights(5)
    body = helper.make_graph(
        [
            node("Gather", ["x", "i"], ["step"], name="body/Gather", axis=1),
            node("Add", ["acc_in", "step"], ["acc_out"], name="body/Add"),
            node("Identity", ["cond_in"], ["cond_out"], name="body/Identity"),
            node("Relu", ["acc_out"], ["scan_out"], name="body/Relu"),
        ],
        "accumulate",
        [INFO("i", I64, []), INFO("cond_in", B, []), INFO("acc_in", F, ["batch", 8])],
        [INFO("cond_out", B, []), INFO("acc_out", F, ["batch", 8]), INFO("scan_out", F, ["batch", 8])],
    )
    n = [
        node("Shape", ["x"], ["x_shape"], name="/Shape"),
        node("Gather", ["x_shape", w.scalar("axis1", 1, np.int64)], ["trips"], name="/Gather", axis=0),
        node("ReduceSum", ["x", w.ints("sum_axes", 1)], ["zeros_like"], name="/ReduceSum", keepdims=0),
        node("Mul", ["zeros_like", w.scalar("zero", 0.0)], ["acc0"], name="/Mul"),
        node("Loop", ["trips", "", "acc0"], ["total", "running"], name="/Loop", body=body),
    ]
    inputs = [INFO("x", F, ["batch", "time", 8])]
    outputs = [INFO("total", F, ["batch", 8]), INFO("running", F, ["time", "batch", 8])]
    return _model("loop_shape", n, inputs, outputs, w, 13)


def scan_cumulative() -> onnx.ModelProto:
    """Scan over axis 1 of x [batch, time, 4] with a carried sum (opset 11+ Scan, scan_input_axes=[1],
    scan_output_axes=[1])."""
    w = Weights(6)
    body = helper.make_graph(
        [
            node("Add", ["sum_in", "x_t"], ["sum_out"], name="scan/Add"),
            node("Identity", ["sum_out"], ["y_t"], name="scan/Identity"),
        ],
        "scan_body",
        [INFO("sum_in", F, ["batch", 4]), INFO("x_t", F, ["batch", 4])],
        [INFO("sum_out", F, ["batch", 4]), INFO("y_t", F, ["batch", 4])],
    )
    n = [
        node("ReduceSum", ["x", w.ints("axes", 1)], ["s"], name="zero_sum", keepdims=0),
        node("Mul", ["s", w.scalar("zero", 0.0)], ["init"], name="zero_init"),
        node(
            "Scan",
            ["init", "x"],
            ["final", "cumsum"],
            name="scan",
            body=body,
            num_scan_inputs=1,
            scan_input_axes=[1],
            scan_output_axes=[1],
        ),
    ]
    inputs = [INFO("x", F, ["batch", "time", 4])]
    outputs = [INFO("final", F, ["batch", 4]), INFO("cumsum", F, ["batch", "time", 4])]
    return _model("scan", n, inputs, outputs, w, 13)


def if_branches_of_different_shapes() -> onnx.ModelProto:
    """torch's `x[:, :2] if x.sum() > 0 else x`: an If on a value computed from the data, then-branch [batch, 2],
    else-branch [batch, 4]."""
    w = Weights(7)
    then_branch = helper.make_graph(
        [node("Slice", ["x", "s0", "s2", "s1"], ["t"], name="then/Slice")],
        "then",
        [],
        [INFO("t", F, ["batch", 2])],
    )
    else_branch = helper.make_graph(
        [node("Identity", ["x"], ["e"], name="else/Identity")], "else", [], [INFO("e", F, ["batch", 4])]
    )
    w.ints("s0", 0)
    w.ints("s2", 2)
    w.ints("s1", 1)
    n = [
        node("ReduceSum", ["x"], ["total"], name="/ReduceSum", keepdims=0),
        node("Greater", ["total", w.scalar("zero", 0.0)], ["positive"], name="/Greater"),
        node("If", ["positive"], ["picked"], name="/If", then_branch=then_branch, else_branch=else_branch),
        node("Relu", ["picked"], ["y"], name="/Relu"),
    ]
    return _model("if_shapes", n, [INFO("x", F, ["batch", 4])], [INFO("y", F, ["batch", None])], w, 13)


def if_on_batch_size() -> onnx.ModelProto:
    """An If on `x.size(0) == 1` (a shortcut traced for batch 1): the branch is decided by the batch dim; the
    then-branch keeps the first 3 features, the else-branch all 6."""
    w = Weights(8)
    then_branch = helper.make_graph(
        [node("Slice", ["x", "s0", "s3", "s1"], ["t"], name="then/Slice")],
        "then",
        [],
        [INFO("t", F, ["batch", 3])],
    )
    else_branch = helper.make_graph(
        [node("Identity", ["x"], ["e"], name="else/Identity")], "else", [], [INFO("e", F, ["batch", 6])]
    )
    w.ints("s0", 0)
    w.ints("s3", 3)
    w.ints("s1", 1)
    n = [
        node("Shape", ["x"], ["shape"], name="/Shape"),
        node("Gather", ["shape", w.scalar("i0", 0, np.int64)], ["b"], name="/Gather", axis=0),
        node("Equal", ["b", w.scalar("one", 1, np.int64)], ["is_one"], name="/Equal"),
        node("If", ["is_one"], ["y"], name="/If", then_branch=then_branch, else_branch=else_branch),
    ]
    return _model("if_batch", n, [INFO("x", F, ["batch", 6])], [INFO("y", F, ["batch", "y_dim_1"])], w, 13)


# ---- 4. data-dependent shapes


def nonzero_gather() -> onnx.ModelProto:
    """Detection post-processing: scores [batch, boxes] > 0.2 -> NonZero -> Transpose -> GatherND of the kept
    scores; the number kept is known only at run time."""
    w = Weights(9)
    n = [
        node("Sigmoid", ["scores"], ["probs"], name="/Sigmoid"),
        node("Greater", ["probs", w.scalar("thr", 0.55)], ["keep"], name="/Greater"),
        node("NonZero", ["keep"], ["where"], name="/NonZero"),
        node("Transpose", ["where"], ["indices"], name="/Transpose", perm=[1, 0]),
        node("GatherND", ["probs", "indices"], ["kept_scores"], name="/GatherND"),
    ]
    outputs = [INFO("kept_scores", F, ["num_kept"]), INFO("indices", I64, ["num_kept", 2])]
    return _model("nonzero", n, [INFO("scores", F, ["batch", "boxes"])], outputs, w, 13)


def topk_k_from_shape() -> onnx.ModelProto:
    """torch's `x.topk(min(5, x.size(1)))`: k = Min(5, Shape(x)[1]) as a 1-element tensor; values and int64
    indices [batch, k]."""
    w = Weights(10)
    n = _dim_of(13, w, "logits", 1, "n_classes", "/size")
    n += [
        node("Min", ["n_classes", w.ints("five", 5)], ["k"], name="/Min"),
        node("TopK", ["logits", "k"], ["values", "indices"], name="/TopK", axis=-1, largest=1, sorted=1),
    ]
    outputs = [INFO("values", F, ["batch", "k"]), INFO("indices", I64, ["batch", "k"])]
    return _model("topk_shape", n, [INFO("logits", F, ["batch", "classes"])], outputs, w, 13)


def topk_k_from_input() -> onnx.ModelProto:
    """TopK with k an int64 [1] model input (a retrieval model's `top_k`)."""
    w = Weights(11)
    n = [node("TopK", ["scores", "top_k"], ["values", "indices"], name="/TopK", axis=1)]
    inputs = [INFO("scores", F, ["batch", 32]), INFO("top_k", I64, [1])]
    outputs = [INFO("values", F, ["batch", "k"]), INFO("indices", I64, ["batch", "k"])]
    return _model("topk_input", n, inputs, outputs, w, 13)


def range_expand_constant_of_shape() -> onnx.ModelProto:
    """Range with a computed limit (2 * length), Expand of a row to Shape(x), ConstantOfShape of Shape(x) as
    torch writes `torch.ones_like` / `arange(2 * n)`; outputs [batch, length] and [2*length]."""
    w = Weights(12)
    n = [
        node("Shape", ["x"], ["x_shape"], name="/Shape"),
        node("Gather", ["x_shape", w.scalar("i1", 1, np.int64)], ["length"], name="/Gather", axis=0),
        node("Mul", ["length", w.scalar("two", 2, np.int64)], ["limit"], name="/Mul"),
        node(
            "Range",
            [w.scalar("start", 0, np.int64), "limit", w.scalar("step", 1, np.int64)],
            ["ar"],
            name="/Range",
        ),
        node("Cast", ["ar"], ["ar_f"], name="/Cast", to=F),
        node("Expand", [w.random("row", 1, 1), "x_shape"], ["expanded"], name="/Expand"),
        node(
            "ConstantOfShape",
            ["x_shape"],
            ["ones"],
            name="/ConstantOfShape",
            value=numpy_helper.from_array(np.ones(1, np.float32)),
        ),
        node("Add", ["x", "expanded"], ["xe"], name="/Add"),
        node("Mul", ["xe", "ones"], ["y"], name="/Mul_1"),
    ]
    outputs = [INFO("y", F, ["batch", "length"]), INFO("ar_f", F, ["Mulay_dim_0"])]
    return _model("range", n, [INFO("x", F, ["batch", "length"])], outputs, w, 13)


# ---- 5. detection / segmentation heads


def fpn_segmentation(opset: int = 11) -> onnx.ModelProto:
    """An FPN-style segmenter: image [batch, 3, height, width] -> two stride-2 convs -> top-down Resize nearest to
    the lateral's size (sizes = Concat(Shape(x)[:2], Shape(lateral)[2:]), with empty roi/scales constants at
    opset 11 and "" at 13) -> Concat of scales -> ConvTranspose back up -> Softmax over channels and ArgMax to an
    int64 mask [batch, height, width]; a linear Resize (pytorch_half_pixel) for the auxiliary output."""
    w = Weights(13)
    n = [
        node(
            "Conv",
            ["image", w.random("c1.w", 8, 3, 3, 3)],
            ["c1"],
            name="/c1/Conv",
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        node("Relu", ["c1"], ["r1"], name="/c1/Relu"),
        node(
            "Conv",
            ["r1", w.random("c2.w", 8, 8, 3, 3)],
            ["c2"],
            name="/c2/Conv",
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        node("Relu", ["c2"], ["r2"], name="/c2/Relu"),
        node("Shape", ["r2"], ["r2_shape"], name="/Shape"),
        node("Shape", ["r1"], ["r1_shape"], name="/Shape_1"),
        node(
            "Slice",
            ["r2_shape", w.ints("s_0", 0), w.ints("s_2", 2), w.ints("s_ax", 0)],
            ["nc"],
            name="/Slice",
        ),
        node(
            "Slice",
            ["r1_shape", w.ints("s_2b", 2), w.ints("s_4", 4), w.ints("s_axb", 0)],
            ["hw"],
            name="/Slice_1",
        ),
        node("Concat", ["nc", "hw"], ["sizes"], name="/Concat", axis=0),
    ]
    if opset >= 13:
        n.append(
            node(
                "Resize",
                ["r2", "", "", "sizes"],
                ["up"],
                name="/Resize",
                mode="nearest",
                coordinate_transformation_mode="asymmetric",
                nearest_mode="floor",
            )
        )
    else:
        n.append(
            node(
                "Resize",
                [
                    "r2",
                    w.array("roi", np.array([], np.float32)),
                    w.array("scales", np.array([], np.float32)),
                    "sizes",
                ],
                ["up"],
                name="/Resize",
                mode="nearest",
                coordinate_transformation_mode="asymmetric",
                nearest_mode="floor",
            )
        )
    n += [
        node("Concat", ["r1", "up"], ["merged"], name="/Concat_1", axis=1),
        node(
            "ConvTranspose",
            ["merged", w.random("up.w", 16, 4, 2, 2)],
            ["deconv"],
            name="/up/ConvTranspose",
            strides=[2, 2],
        ),
        node("Softmax", ["deconv"], ["probs"], name="/Softmax", axis=1),
        node("ArgMax", ["probs"], ["mask"], name="/ArgMax", axis=1, keepdims=0),
        node("Shape", ["image"], ["image_shape"], name="/Shape_2"),
        node(
            "Slice",
            ["image_shape", w.ints("s_2c", 2), w.ints("s_4c", 4), w.ints("s_axc", 0)],
            ["image_hw"],
            name="/Slice_2",
        ),
        node("Concat", ["nc", "image_hw"], ["aux_sizes"], name="/Concat_2", axis=0),
    ]
    empty_roi = "" if opset >= 13 else w.array("roi_b", np.array([], np.float32))
    empty_scales = "" if opset >= 13 else w.array("scales_b", np.array([], np.float32))
    n.append(
        node(
            "Resize",
            ["r2", empty_roi, empty_scales, "aux_sizes"],
            ["aux"],
            name="/Resize_1",
            mode="linear",
            coordinate_transformation_mode="pytorch_half_pixel",
        )
    )
    outputs = [
        INFO("mask", I64, ["batch", "height", "width"]),
        INFO("probs", F, ["batch", 4, "height", "width"]),
        INFO("aux", F, ["batch", 8, "height", "width"]),
    ]
    inputs = [INFO("image", F, ["batch", 3, "height", "width"])]
    return _model("fpn", n, inputs, outputs, w, opset)


def fpn_segmentation_opset13() -> onnx.ModelProto:
    return fpn_segmentation(13)


def yolo_head() -> onnx.ModelProto:
    """A YOLO-style head: two scales of a fixed-size image [1, 3, 64, 64] each Conv'd to [1, 9, h, w], reshaped
    to [1, -1, 9] and concatenated; boxes by Slice, class scores by Sigmoid; an Upsample-style nearest Resize with
    constant scales and a Split of the channels with a `split` input (opset 13)."""
    w = Weights(14)
    n = [
        node(
            "Conv",
            ["images", w.random("stem.w", 8, 3, 3, 3)],
            ["stem"],
            name="/stem/Conv",
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        node("Sigmoid", ["stem"], ["stem_sig"], name="/stem/Sigmoid"),
        node("Mul", ["stem", "stem_sig"], ["silu"], name="/stem/Mul"),
        node(
            "Conv",
            ["silu", w.random("down.w", 8, 8, 3, 3)],
            ["down"],
            name="/down/Conv",
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        node(
            "Resize",
            ["down", "", w.array("up_scales", np.array([1, 1, 2, 2], np.float32))],
            ["up"],
            name="/Resize",
            mode="nearest",
        ),
        node("Add", ["up", "silu"], ["fused"], name="/Add"),
        node("Conv", ["fused", w.random("head0.w", 9, 8, 1, 1)], ["h0"], name="/head0/Conv"),
        node("Conv", ["down", w.random("head1.w", 9, 8, 1, 1)], ["h1"], name="/head1/Conv"),
        node("Reshape", ["h0", w.ints("flat", 1, 9, -1)], ["h0f"], name="/Reshape"),
        node("Reshape", ["h1", w.ints("flat_b", 1, 9, -1)], ["h1f"], name="/Reshape_1"),
        node("Concat", ["h0f", "h1f"], ["all"], name="/Concat", axis=2),
        node("Transpose", ["all"], ["all_t"], name="/Transpose", perm=[0, 2, 1]),
        node("Split", ["all_t", w.ints("split", 4, 5)], ["boxes", "cls_logits"], name="/Split", axis=2),
        node("Sigmoid", ["cls_logits"], ["scores"], name="/Sigmoid"),
    ]
    outputs = [INFO("boxes", F, [1, 1280, 4]), INFO("scores", F, [1, 1280, 5])]
    return _model("yolo", n, [INFO("images", F, [1, 3, 64, 64])], outputs, w, 13)


# ---- 6. audio


def silero_like_vad() -> onnx.ModelProto:
    """silero-vad-like: input [batch, samples] -> Unsqueeze -> reflect Pad -> STFT as a strided Conv (kernel 64,
    stride 32, 66 outputs: real and imaginary parts of 33 bins) -> magnitude (Slice, Pow, Add, Sqrt) -> Conv1d
    encoder -> LSTM cell over the frames with state [2, batch, 128] (h and c stacked, batch at axis 1) -> mean
    over time -> Sigmoid; outputs the probability [batch, 1] and the new state."""
    w = Weights(15)
    hidden = 128
    w.random("stft_basis", 66, 1, 64, scale=0.2)
    n = [
        node("Unsqueeze", ["input", w.ints("ax1", 1)], ["x3"], name="/Unsqueeze"),
        node("Pad", ["x3", w.ints("pads", 0, 0, 32, 0, 0, 32)], ["padded"], name="/Pad", mode="reflect"),
        node("Conv", ["padded", "stft_basis"], ["spec"], name="/stft/Conv", strides=[32]),
        node("Slice", ["spec", w.ints("r0", 0), w.ints("r1", 33), w.ints("rax", 1)], ["real"], name="/Slice"),
        node(
            "Slice", ["spec", w.ints("i0", 33), w.ints("i1", 66), w.ints("iax", 1)], ["imag"], name="/Slice_1"
        ),
        node("Pow", ["real", w.scalar("two", 2.0)], ["real2"], name="/Pow"),
        node("Pow", ["imag", "two"], ["imag2"], name="/Pow_1"),
        node("Add", ["real2", "imag2"], ["power"], name="/Add"),
        node("Add", ["power", w.scalar("tiny", 1e-6)], ["power_eps"], name="/Add_eps"),
        node("Sqrt", ["power_eps"], ["magnitude"], name="/Sqrt"),
        node(
            "Conv",
            ["magnitude", w.random("enc.w", 32, 33, 3, scale=0.1), w.random("enc.b", 32, scale=0.1)],
            ["enc"],
            name="/encoder/Conv",
            pads=[1, 1],
            strides=[2],
        ),
        node("Relu", ["enc"], ["enc_r"], name="/encoder/Relu"),
        node("Transpose", ["enc_r"], ["frames"], name="/Transpose", perm=[2, 0, 1]),
        node("Gather", ["state", w.scalar("h_i", 0, np.int64)], ["h_prev"], name="/Gather", axis=0),
        node("Gather", ["state", w.scalar("c_i", 1, np.int64)], ["c_prev"], name="/Gather_1", axis=0),
        node("Unsqueeze", ["h_prev", w.ints("ax0", 0)], ["h0"], name="/Unsqueeze_1"),
        node("Unsqueeze", ["c_prev", w.ints("ax0b", 0)], ["c0"], name="/Unsqueeze_2"),
        node(
            "LSTM",
            [
                "frames",
                w.random("W", 1, 4 * hidden, 32, scale=0.1),
                w.random("R", 1, 4 * hidden, hidden, scale=0.05),
                w.random("B", 1, 8 * hidden, scale=0.05),
                "",
                "h0",
                "c0",
            ],
            ["Y", "Y_h", "Y_c"],
            name="/decoder/LSTM",
            hidden_size=hidden,
        ),
        node("Concat", ["Y_h", "Y_c"], ["stateN"], name="/Concat", axis=0),
        node("ReduceMean", ["Y"], ["mean_t"], name="/ReduceMean", axes=[0], keepdims=0),
        node("Squeeze", ["mean_t", w.ints("sq", 0)], ["features"], name="/Squeeze"),
        node("MatMul", ["features", w.random("out.w", hidden, 1)], ["logit"], name="/out/MatMul"),
        node("Sigmoid", ["logit"], ["output"], name="/Sigmoid"),
    ]
    inputs = [INFO("input", F, ["batch", "samples"]), INFO("state", F, [2, "batch", hidden])]
    outputs = [INFO("output", F, ["batch", 1]), INFO("stateN", F, [2, "batch", hidden])]
    return _model("vad", n, inputs, outputs, w, 15)


def wav2vec_like_frontend() -> onnx.ModelProto:
    """wav2vec2-like feature extractor: [batch, 1, samples] -> Conv1d k10 s5 -> InstanceNormalization (GroupNorm
    with one group per channel, as torch exports it) -> erf-Gelu -> Conv1d k3 s2 -> Transpose to
    [batch, frames, 16]; frames = ((samples - 10) // 5 + 1 - 3) // 2 + 1."""
    w = Weights(16)
    n = [
        node(
            "Conv", ["input_values", w.random("c0.w", 16, 1, 10)], ["c0"], name="/fe/conv0/Conv", strides=[5]
        ),
        node(
            "InstanceNormalization",
            [
                "c0",
                w.array("gn.scale", np.ones(16, np.float32)),
                w.array("gn.bias", np.zeros(16, np.float32)),
            ],
            ["gn"],
            name="/fe/norm",
            epsilon=1e-5,
        ),
        node("Div", ["gn", w.scalar("sqrt2", np.sqrt(2.0))], ["gd"], name="/fe/Div"),
        node("Erf", ["gd"], ["ge"], name="/fe/Erf"),
        node("Add", ["ge", w.scalar("one", 1.0)], ["ge1"], name="/fe/Add"),
        node("Mul", ["gn", "ge1"], ["gm"], name="/fe/Mul"),
        node("Mul", ["gm", w.scalar("half", 0.5)], ["gelu"], name="/fe/Mul_1"),
        node(
            "Conv",
            ["gelu", w.random("c1.w", 16, 16, 3, scale=0.1)],
            ["c1"],
            name="/fe/conv1/Conv",
            strides=[2],
        ),
        node("Transpose", ["c1"], ["last_hidden_state"], name="/Transpose", perm=[0, 2, 1]),
    ]
    inputs = [INFO("input_values", F, ["batch_size", 1, "sequence_length"])]
    outputs = [INFO("last_hidden_state", F, ["batch_size", "Transposelast_hidden_state_dim_1", 16])]
    return _model("wav2vec", n, inputs, outputs, w, 17)


# ---- 7. fp16


def fp16_classifier() -> onnx.ModelProto:
    """A model exported with `.half()`: input, weights and compute in fp16, a Cast to fp32 at the end (the
    output a server reads)."""
    w = Weights(18, np.float16)
    n = [
        node(
            "Conv",
            ["pixel_values", w.random("conv.w", 8, 3, 3, 3), w.random("conv.b", 8, scale=0.1)],
            ["c"],
            name="/conv/Conv",
            pads=[1, 1, 1, 1],
        ),
        node("Relu", ["c"], ["r"], name="/Relu"),
        node("GlobalAveragePool", ["r"], ["pooled"], name="/GlobalAveragePool"),
        node("Flatten", ["pooled"], ["flat"], name="/Flatten", axis=1),
        node(
            "Gemm",
            ["flat", w.random("fc.w", 5, 8), w.random("fc.b", 5, scale=0.1)],
            ["logits16"],
            name="/fc/Gemm",
            transB=1,
        ),
        node("Cast", ["logits16"], ["logits"], name="/Cast", to=F),
    ]
    inputs = [INFO("pixel_values", F16, ["batch", 3, "height", "width"])]
    outputs = [INFO("logits", F, ["batch", 5])]
    return _model("fp16", n, inputs, outputs, w, 17)


def mixed_precision_casts() -> onnx.ModelProto:
    """An AMP export: fp32 input Cast to fp16 for the MatMuls, back to fp32 for LayerNorm and Softmax (autocast's
    fp32 list), and a final fp16 output."""
    w = Weights(19, np.float16)
    n = [
        node("Cast", ["x"], ["x16"], name="/Cast", to=F16),
        node("MatMul", ["x16", w.random("w1", 16, 16)], ["h16"], name="/fc1/MatMul"),
        node("Cast", ["h16"], ["h32"], name="/Cast_1", to=F),
    ]
    w32 = Weights(20)
    n += _layer_norm(17, w32, "h32", "ln", 16, "/ln")
    n += [
        node("Softmax", ["ln"], ["sm"], name="/Softmax", axis=-1),
        node("Cast", ["sm"], ["sm16"], name="/Cast_2", to=F16),
        node("MatMul", ["sm16", w.random("w2", 16, 8)], ["y"], name="/fc2/MatMul"),
    ]
    w.tensors += w32.tensors
    inputs = [INFO("x", F, ["batch", "tokens", 16])]
    outputs = [INFO("y", F16, ["batch", "tokens", 8])]
    return _model("amp", n, inputs, outputs, w, 17)


# ---- 8. opsets and dim names


def opset11_split_squeeze() -> onnx.ModelProto:
    """Opset 11: Split with a `split` attribute, Squeeze/Unsqueeze and ReduceMean with axes attributes; dims
    named `N` and `?`."""
    w = Weights(21)
    n = [
        node("Split", ["x"], ["a", "b"], name="/Split", axis=1, split=[2, 6]),
        node("ReduceMean", ["b"], ["bm"], name="/ReduceMean", axes=[1], keepdims=1),
        node("Mul", ["a", "bm"], ["ab"], name="/Mul"),
        node("Unsqueeze", ["ab"], ["ab3"], name="/Unsqueeze", axes=[1]),
        node("Squeeze", ["ab3"], ["y"], name="/Squeeze", axes=[1]),
    ]
    return _model("op11", n, [INFO("x", F, ["N", 8, "?"])], [INFO("y", F, ["N", 2, "?"])], w, 11, ir=6)


def opset18_reductions_and_antialias(antialias: int = 1) -> onnx.ModelProto:
    """Opset 18: ReduceMean with axes as an input, Split with num_outputs, a linear Resize halving the image
    with antialias=1 (torch's `interpolate(antialias=True)`, which TensorRT's parser ignores or rejects) or
    without; dims named with spaces and dots."""
    w = Weights(22)
    n = [
        node("ReduceMean", ["image", w.ints("axes", 1)], ["gray"], name="/ReduceMean", keepdims=1),
        node(
            "Resize",
            ["gray", "", w.array("scales", np.array([1, 1, 0.5, 0.5], np.float32))],
            ["small"],
            name="/Resize",
            mode="linear",
            antialias=antialias,
        ),
        node("Split", ["image"], ["r", "g", "b"], name="/Split", axis=1, num_outputs=3),
        node("Sub", ["r", "b"], ["rb"], name="/Sub"),
    ]
    inputs = [INFO("image", F, ["batch size", 3, "img.h", "img.w"])]
    outputs = [
        INFO("small", F, ["batch size", 1, None, None]),
        INFO("rb", F, ["batch size", 1, "img.h", "img.w"]),
    ]
    return _model("op18", n, inputs, outputs, w, 18, ir=8)


def opset18_reductions() -> onnx.ModelProto:
    return opset18_reductions_and_antialias(antialias=0)


def opset19_20_ops(opset: int = 20) -> onnx.ModelProto:
    """Opset 19/20: Gelu (20), a Pad with an axes input (18+), Reshape with allowzero, Cast from int64; dims named
    with numbers and an empty name."""
    w = Weights(23)
    n = [
        node(
            "Pad",
            ["x", w.ints("pads", 1, 1), w.scalar("pad_value", 0.0), w.ints("pad_axes", -1)],
            ["padded"],
            name="/Pad",
            mode="constant",
        ),
        node("Reshape", ["padded", w.ints("shape", 0, -1)], ["flat"], name="/Reshape", allowzero=0),
    ]
    if opset >= 20:
        n.append(node("Gelu", ["flat"], ["act"], name="/Gelu", approximate="tanh"))
    else:
        n.append(node("Relu", ["flat"], ["act"], name="/Relu"))
    n += [
        node("Cast", ["count"], ["count_f"], name="/Cast", to=F),
        node("Add", ["count_f", w.scalar("one", 1.0)], ["count_1"], name="/Add"),
        node("Mul", ["act", "count_1"], ["y"], name="/Mul"),
    ]
    inputs = [INFO("x", F, ["0", ""]), INFO("count", I64, ["0", 1])]
    outputs = [INFO("y", F, ["0", "1"])]
    return _model(f"op{opset}", n, inputs, outputs, w, opset, ir=9)


def opset19() -> onnx.ModelProto:
    return opset19_20_ops(19)


def opset12_dynamic_slice() -> onnx.ModelProto:
    """Opset 12: Slice whose `ends` come from Shape arithmetic (torch's `x[:, : x.size(1) // 2]`), Div on int64,
    and a Clip with min/max inputs."""
    w = Weights(24)
    n = [
        node("Shape", ["x"], ["shape"], name="/Shape"),
        node("Gather", ["shape", w.ints("one", 1)], ["len1"], name="/Gather", axis=0),
        node("Div", ["len1", w.ints("two", 2)], ["half"], name="/Div"),
        node("Slice", ["x", w.ints("start", 0), "half", w.ints("axis", 1)], ["first"], name="/Slice"),
        node("Clip", ["first", w.scalar("lo", -0.5), w.scalar("hi", 0.5)], ["y"], name="/Clip"),
    ]
    inputs = [INFO("x", F, ["batch", "length"])]
    outputs = [INFO("y", F, ["batch", "half_length"])]
    return _model("op12", n, inputs, outputs, w, 12, ir=7)


# ---- 9. more exporters' shapes


def decoder_with_kv_cache() -> onnx.ModelProto:
    """A GPT-2-like decoder step as optimum exports it: input_ids [batch, sequence_length], attention_mask
    [batch, "past_sequence_length + sequence_length"], past key/value [batch, 2, past_sequence_length, 8]; the
    new keys are concatenated to the past ones (present.*), attention over all of them with the mask, logits
    [batch, sequence_length, 32]."""
    w = Weights(30)
    width, heads, head, vocab = 16, 2, 8, 32
    total = "past_sequence_length + sequence_length"
    n: list[onnx.NodeProto] = [
        node("Gather", [w.random("wte", vocab, width), "input_ids"], ["h"], name="/wte/Gather", axis=0),
    ]
    n += _dim_of(13, w, "h", 0, "b", "/b")
    n += _dim_of(13, w, "h", 1, "s", "/s")
    n.append(node("Concat", ["b", "s", w.ints("hh", heads, head)], ["split"], name="/Concat", axis=0))
    for part in ("q", "k", "v"):
        n.append(
            node("MatMul", ["h", w.random(f"{part}.w", width, width)], [f"{part}_l"], name=f"/{part}/MatMul")
        )
        n.append(node("Reshape", [f"{part}_l", "split"], [f"{part}_r"], name=f"/{part}/Reshape"))
        n.append(
            node("Transpose", [f"{part}_r"], [f"{part}_t"], name=f"/{part}/Transpose", perm=[0, 2, 1, 3])
        )
    n += [
        node("Concat", ["past_key_values.0.key", "k_t"], ["present.0.key"], name="/k/Concat", axis=2),
        node("Concat", ["past_key_values.0.value", "v_t"], ["present.0.value"], name="/v/Concat", axis=2),
        node("Transpose", ["present.0.key"], ["kT"], name="/kT", perm=[0, 1, 3, 2]),
        node("MatMul", ["q_t", "kT"], ["scores"], name="/scores"),
        node("Mul", ["scores", w.scalar("scale", 1 / np.sqrt(head))], ["scaled"], name="/scale"),
        _unsqueeze(13, w, "attention_mask", "mask4", [1, 2], "/mask/Unsqueeze"),
        node("Cast", ["mask4"], ["mask_f"], name="/mask/Cast", to=F),
        node("Sub", [w.scalar("one", 1.0), "mask_f"], ["inv"], name="/mask/Sub"),
        node("Mul", ["inv", w.scalar("neg", -1e4)], ["additive"], name="/mask/Mul"),
        node("Add", ["scaled", "additive"], ["masked"], name="/mask/Add"),
        node("Softmax", ["masked"], ["probs"], name="/Softmax", axis=-1),
        node("MatMul", ["probs", "present.0.value"], ["ctx"], name="/ctx"),
        node("Transpose", ["ctx"], ["ctx_t"], name="/ctx/Transpose", perm=[0, 2, 1, 3]),
        node("Concat", ["b", "s", w.ints("wd", width)], ["merge"], name="/Concat_1", axis=0),
        node("Reshape", ["ctx_t", "merge"], ["ctx_m"], name="/ctx/Reshape"),
        node("MatMul", ["ctx_m", w.random("lm_head", width, vocab)], ["logits"], name="/lm_head/MatMul"),
    ]
    cache = ["batch_size", heads, "past_sequence_length", head]
    present = ["batch_size", heads, total, head]
    inputs = [
        INFO("input_ids", I64, ["batch_size", "sequence_length"]),
        INFO("attention_mask", I64, ["batch_size", total]),
        INFO("past_key_values.0.key", F, cache),
        INFO("past_key_values.0.value", F, cache),
    ]
    outputs = [
        INFO("logits", F, ["batch_size", "sequence_length", vocab]),
        INFO("present.0.key", F, present),
        INFO("present.0.value", F, present),
    ]
    return _model("decoder", n, inputs, outputs, w, 14)


def vit_with_dynamic_image_size() -> onnx.ModelProto:
    """A ViT exported with dynamic_axes on height and width although its position embeddings fix the patch grid:
    pixel_values [batch, 3, height, width] -> 8x8 patch Conv (a 4x4 grid at 32x32) -> Flatten/Transpose -> cls
    token Expanded to the batch (Shape/Gather/Concat) -> Add of 17 position embeddings -> LayerNorm -> logits
    of the cls token. Only 32x32 images run."""
    w = Weights(31)
    width = 16
    n = [
        node(
            "Conv",
            ["pixel_values", w.random("patch.w", width, 3, 8, 8, scale=0.1)],
            ["patches"],
            name="/patch/Conv",
            strides=[8, 8],
        ),
        node("Flatten", ["patches"], ["flat"], name="/Flatten", axis=2),
        node("Reshape", ["patches", w.ints("seq_shape", 0, width, -1)], ["seq"], name="/Reshape"),
        node("Transpose", ["seq"], ["tokens"], name="/Transpose", perm=[0, 2, 1]),
    ]
    n += _dim_of(13, w, "pixel_values", 0, "b", "/cls/batch")
    n += [
        node("Concat", ["b", w.ints("ones", 1, 1)], ["cls_shape"], name="/cls/Concat", axis=0),
        node("Expand", [w.random("cls_token", 1, 1, width), "cls_shape"], ["cls"], name="/cls/Expand"),
        node("Concat", ["cls", "tokens"], ["with_cls"], name="/Concat", axis=1),
        node(
            "Add", ["with_cls", w.random("position_embeddings", 1, 17, width)], ["embedded"], name="/pos/Add"
        ),
    ]
    n += _layer_norm(17, w, "embedded", "normed", width, "/ln")
    n += [
        node("Gather", ["normed", w.scalar("first", 0, np.int64)], ["cls_out"], name="/Gather", axis=1),
        node(
            "Gemm",
            ["cls_out", w.random("head.w", 5, width), w.random("head.b", 5)],
            ["logits"],
            name="/head/Gemm",
            transB=1,
        ),
    ]
    inputs = [INFO("pixel_values", F, ["batch_size", 3, "height", "width"])]
    return _model("vit", n, inputs, [INFO("logits", F, ["batch_size", 5])], w, 17)


def keras_nhwc_classifier() -> onnx.ModelProto:
    """tf2onnx from Keras: `input_1` [unk__618, 64, 64, 3] NHWC -> Transpose -> Conv -> Relu -> ReduceMean over
    H, W (axes attribute, opset 13) -> MatMul -> Softmax -> `dense` [unk__619, 4]."""
    w = Weights(32)
    n = [
        node("Transpose", ["input_1"], ["nchw"], name="model/conv2d/Conv2D__6", perm=[0, 3, 1, 2]),
        node(
            "Conv",
            ["nchw", w.random("conv.w", 8, 3, 3, 3), w.random("conv.b", 8)],
            ["c"],
            name="model/conv2d/Conv2D",
            strides=[2, 2],
            pads=[0, 0, 1, 1],
        ),
        node("Relu", ["c"], ["r"], name="model/conv2d/Relu"),
        node(
            "ReduceMean",
            ["r"],
            ["pooled"],
            name="model/global_average_pooling2d/Mean",
            axes=[2, 3],
            keepdims=0,
        ),
        node("MatMul", ["pooled", w.random("dense.w", 8, 4)], ["d"], name="model/dense/MatMul"),
        node("Softmax", ["d"], ["dense"], name="model/dense/Softmax", axis=-1),
    ]
    model = _model(
        "tf2onnx",
        n,
        [INFO("input_1", F, ["unk__618", 64, 64, 3])],
        [INFO("dense", F, ["unk__619", 4])],
        w,
        13,
    )
    model.producer_name = "tf2onnx"
    return model


def paddle_det_head() -> onnx.ModelProto:
    """paddle2onnx-style DB text detector head: x [p2o.DynamicDimension.0, 3, p2o.DynamicDimension.1,
    p2o.DynamicDimension.2] -> Conv stride 4 -> HardSwish -> Resize with `scales` computed from Shape (the
    `interpolate(size=...)` of paddle written as scales = size / shape) -> ConvTranspose x2 twice -> Sigmoid."""
    w = Weights(33)
    n = [
        node("Conv", ["x", w.random("c.w", 8, 3, 4, 4, scale=0.2)], ["c"], name="p2o.Conv.0", strides=[4, 4]),
        node("HardSwish", ["c"], ["hs"], name="p2o.HardSwish.0"),
        node(
            "Conv",
            ["hs", w.random("d.w", 8, 8, 3, 3, scale=0.2)],
            ["d"],
            name="p2o.Conv.1",
            strides=[2, 2],
            pads=[1, 1, 1, 1],
        ),
        node("Shape", ["d"], ["d_shape"], name="p2o.Shape.0"),
        node("Shape", ["hs"], ["hs_shape"], name="p2o.Shape.1"),
        node("Cast", ["d_shape"], ["d_shape_f"], name="p2o.Cast.0", to=F),
        node("Cast", ["hs_shape"], ["hs_shape_f"], name="p2o.Cast.1", to=F),
        node("Div", ["hs_shape_f", "d_shape_f"], ["scales"], name="p2o.Div.0"),
        node("Resize", ["d", "", "scales"], ["up"], name="p2o.Resize.0", mode="nearest"),
        node("Add", ["up", "hs"], ["fused"], name="p2o.Add.0"),
        node(
            "ConvTranspose",
            ["fused", w.random("t1.w", 8, 4, 2, 2, scale=0.2)],
            ["t1"],
            name="p2o.ConvTranspose.0",
            strides=[2, 2],
        ),
        node("Relu", ["t1"], ["t1r"], name="p2o.Relu.0"),
        node(
            "ConvTranspose",
            ["t1r", w.random("t2.w", 4, 1, 2, 2, scale=0.2)],
            ["t2"],
            name="p2o.ConvTranspose.1",
            strides=[2, 2],
        ),
        node("Sigmoid", ["t2"], ["sigmoid_0.tmp_0"], name="p2o.Sigmoid.0"),
    ]
    dims = ["p2o.DynamicDimension.0", 3, "p2o.DynamicDimension.1", "p2o.DynamicDimension.2"]
    outputs = [
        INFO(
            "sigmoid_0.tmp_0",
            F,
            ["p2o.DynamicDimension.0", 1, "p2o.DynamicDimension.3", "p2o.DynamicDimension.4"],
        )
    ]
    model = _model("paddle", n, [INFO("x", F, dims)], outputs, w, 14)
    model.producer_name = "PaddlePaddle"
    return model


def nms_postprocess() -> onnx.ModelProto:
    """An SSD/YOLO post-process: boxes [batch, anchors, 4] and scores [batch, classes, anchors] ->
    NonMaxSuppression (max 10 per class, IoU 0.5, score 0.3) -> selected [num_selected, 3] int64 -> Gather of
    the kept boxes by the anchor column."""
    w = Weights(34)
    n = [
        node("Sigmoid", ["scores"], ["probs"], name="/Sigmoid"),
        node(
            "NonMaxSuppression",
            [
                "boxes",
                "probs",
                w.ints("max_out", 10),
                w.array("iou", np.array([0.5], np.float32)),
                w.array("thr", np.array([0.6], np.float32)),
            ],
            ["selected"],
            name="/NMS",
        ),
        node("Gather", ["selected", w.scalar("col", 2, np.int64)], ["anchor_ids"], name="/Gather", axis=1),
        node("Gather", ["boxes", "anchor_ids"], ["kept_all"], name="/Gather_1", axis=1),
    ]
    inputs = [INFO("boxes", F, ["batch", "anchors", 4]), INFO("scores", F, ["batch", 3, "anchors"])]
    outputs = [INFO("selected", I64, ["num_selected", 3]), INFO("kept_all", F, ["batch", "num_selected", 4])]
    return _model("nms", n, inputs, outputs, w, 11, ir=6)


def clip_text_eos_pooling() -> onnx.ModelProto:
    """CLIP's text pooling: int32 input_ids [batch, 16] (a fixed context) Cast to int64 -> embedding -> the
    features at each sequence's end token, found by ArgMax over the ids, gathered with Range over the batch
    and GatherND."""
    w = Weights(35)
    n = [
        node("Cast", ["input_ids"], ["ids64"], name="/Cast", to=I64),
        node("Gather", [w.random("token_embedding", 49, 8), "ids64"], ["emb"], name="/embed/Gather", axis=0),
        node("Tanh", ["emb"], ["hidden"], name="/Tanh"),
        node("ArgMax", ["ids64"], ["eos"], name="/ArgMax", axis=-1, keepdims=0),
    ]
    n += _dim_of(13, w, "ids64", 0, "b", "/batch")
    n += [
        _squeeze(13, w, "b", "b_scalar", [0], "/Squeeze"),
        node(
            "Range",
            [w.scalar("zero", 0, np.int64), "b_scalar", w.scalar("one", 1, np.int64)],
            ["rows"],
            name="/Range",
        ),
        _unsqueeze(13, w, "rows", "rows2", [1], "/Unsqueeze_r"),
        _unsqueeze(13, w, "eos", "eos2", [1], "/Unsqueeze_e"),
        node("Concat", ["rows2", "eos2"], ["pairs"], name="/Concat_p", axis=1),
        node("GatherND", ["hidden", "pairs"], ["text_embeds"], name="/GatherND"),
    ]
    inputs = [INFO("input_ids", I32, ["batch", 16])]
    return _model("clip", n, inputs, [INFO("text_embeds", F, ["batch", 8])], w, 14)


def t5_relative_position_bias() -> onnx.ModelProto:
    """T5's relative attention bias: positions from Range over the sequence length, their differences (Unsqueeze,
    Sub), buckets by Abs, Cast to float, Log, Div, Mul, Cast back to int64, Min and Where, a Gather from a
    [32, 2] bias table, added to the attention scores of hidden [batch, sequence, 16]."""
    w = Weights(40)
    n = _dim_of(13, w, "hidden_states", 1, "s", "/s")
    n += [
        _squeeze(13, w, "s", "s0", [0], "/Squeeze"),
        node(
            "Range",
            [w.scalar("zero", 0, np.int64), "s0", w.scalar("one", 1, np.int64)],
            ["pos"],
            name="/Range",
        ),
        _unsqueeze(13, w, "pos", "pos_q", [1], "/Unsqueeze_q"),
        _unsqueeze(13, w, "pos", "pos_k", [0], "/Unsqueeze_k"),
        node("Sub", ["pos_k", "pos_q"], ["relative"], name="/Sub"),
        node("Abs", ["relative"], ["distance"], name="/Abs"),
        node("Less", ["distance", w.scalar("exact", 8, np.int64)], ["is_small"], name="/Less"),
        node("Cast", ["distance"], ["distance_f"], name="/Cast", to=F),
        node("Div", ["distance_f", w.scalar("exact_f", 8.0)], ["ratio"], name="/Div"),
        node("Log", ["ratio"], ["log_ratio"], name="/Log"),
        node("Div", ["log_ratio", w.scalar("log_range", float(np.log(128 / 8)))], ["scaled"], name="/Div_1"),
        node("Mul", ["scaled", w.scalar("buckets_left", 8.0)], ["bucket_f"], name="/Mul"),
        node("Cast", ["bucket_f"], ["bucket_i"], name="/Cast_1", to=I64),
        node("Add", ["bucket_i", "exact"], ["large"], name="/Add"),
        node("Min", ["large", w.scalar("last", 15, np.int64)], ["large_c"], name="/Min"),
        node("Where", ["is_small", "distance", "large_c"], ["bucket"], name="/Where"),
        node(
            "Gather",
            [w.random("relative_attention_bias", 32, 2), "bucket"],
            ["bias"],
            name="/bias/Gather",
            axis=0,
        ),
        node("Transpose", ["bias"], ["bias_t"], name="/bias/Transpose", perm=[2, 0, 1]),
        _unsqueeze(13, w, "bias_t", "bias4", [0], "/bias/Unsqueeze"),
    ]
    n += _dim_of(13, w, "hidden_states", 0, "b", "/b")
    n += [
        node("Concat", ["b", "s", w.ints("hh", 2, 8)], ["heads"], name="/Concat", axis=0),
        node("Reshape", ["hidden_states", "heads"], ["h4"], name="/Reshape"),
        node("Transpose", ["h4"], ["q"], name="/Transpose", perm=[0, 2, 1, 3]),
        node("Transpose", ["h4"], ["kT"], name="/Transpose_1", perm=[0, 2, 3, 1]),
        node("MatMul", ["q", "kT"], ["scores"], name="/MatMul"),
        node("Add", ["scores", "bias4"], ["biased"], name="/Add_bias"),
        node("Softmax", ["biased"], ["attn"], name="/Softmax", axis=-1),
        node("MatMul", ["attn", "q"], ["ctx"], name="/MatMul_1"),
    ]
    inputs = [INFO("hidden_states", F, ["batch", "sequence"] + [16])]
    outputs = [INFO("ctx", F, ["batch", 2, "sequence", 8])]
    return _model("t5", n, inputs, outputs, w, 13)


def diffusion_timestep_embedding() -> onnx.ModelProto:
    """A diffusion UNet's entry at opset 21: sample [batch, 4, height, width] and an int64 timestep [batch] ->
    sinusoidal embedding (Cast, Unsqueeze, Mul by Exp(-log(10000) * Range / half), Sin and Cos, Concat) ->
    Linear, SiLU -> added per channel after a Conv, GroupNormalization -> Conv back to 4 channels."""
    w = Weights(41)
    half = 4
    n = [
        node(
            "Range",
            [w.scalar("r0", 0.0), w.scalar("r1", float(half)), w.scalar("r2", 1.0)],
            ["freq_idx"],
            name="/Range",
        ),
        node(
            "Mul",
            ["freq_idx", w.scalar("neg_log", float(-np.log(10000.0) / half))],
            ["exponent"],
            name="/Mul",
        ),
        node("Exp", ["exponent"], ["freqs"], name="/Exp"),
        node("Cast", ["timestep"], ["t_f"], name="/Cast", to=F),
        _unsqueeze(18, w, "t_f", "t_col", [1], "/Unsqueeze"),
        node("Mul", ["t_col", "freqs"], ["args"], name="/Mul_1"),
        node("Sin", ["args"], ["sin"], name="/Sin"),
        node("Cos", ["args"], ["cos"], name="/Cos"),
        node("Concat", ["cos", "sin"], ["t_emb"], name="/Concat", axis=1),
        node(
            "Gemm",
            ["t_emb", w.random("time.w", 8, 2 * half), w.random("time.b", 8)],
            ["t_lin"],
            name="/time/Gemm",
            transB=1,
        ),
        node("Sigmoid", ["t_lin"], ["t_sig"], name="/time/Sigmoid"),
        node("Mul", ["t_lin", "t_sig"], ["t_silu"], name="/time/Mul"),
        _unsqueeze(18, w, "t_silu", "t_4d", [2, 3], "/time/Unsqueeze"),
        node(
            "Conv",
            ["sample", w.random("conv_in.w", 8, 4, 3, 3, scale=0.2)],
            ["c"],
            name="/conv_in/Conv",
            pads=[1, 1, 1, 1],
        ),
        node("Add", ["c", "t_4d"], ["ct"], name="/Add"),
        node(
            "GroupNormalization",
            ["ct", w.array("gn.scale", np.ones(8, np.float32)), w.array("gn.bias", np.zeros(8, np.float32))],
            ["gn"],
            name="/norm/GroupNormalization",
            num_groups=2,
        ),
        node(
            "Conv",
            ["gn", w.random("conv_out.w", 4, 8, 3, 3, scale=0.2)],
            ["out_sample"],
            name="/conv_out/Conv",
            pads=[1, 1, 1, 1],
        ),
    ]
    inputs = [INFO("sample", F, ["batch", 4, "height", "width"]), INFO("timestep", I64, ["batch"])]
    outputs = [INFO("out_sample", F, ["batch", 4, "height", "width"])]
    return _model("unet", n, inputs, outputs, w, 21, ir=10)


def detr_mask_position_embedding() -> onnx.ModelProto:
    """DETR's sine position embedding from a pixel_mask [batch, height, width] (int64, 1 on pixels): Cast,
    CumSum along height and width, normalised by the last row and column, scaled, Sin/Cos, Concat, added to
    the Conv features of pixel_values."""
    w = Weights(42)
    n = [
        node("Cast", ["pixel_mask"], ["not_mask"], name="/Cast", to=F),
        node("CumSum", ["not_mask", w.scalar("ax1", 1, np.int64)], ["y_embed"], name="/CumSum"),
        node("CumSum", ["not_mask", w.scalar("ax2", 2, np.int64)], ["x_embed"], name="/CumSum_1"),
        node(
            "Slice",
            ["y_embed", w.ints("ys", -1), w.ints("ye", 2**31 - 1), w.ints("ya", 1)],
            ["y_last"],
            name="/Slice",
        ),
        node(
            "Slice",
            ["x_embed", w.ints("xs", -1), w.ints("xe", 2**31 - 1), w.ints("xa", 2)],
            ["x_last"],
            name="/Slice_1",
        ),
        node("Add", ["y_last", w.scalar("eps", 1e-6)], ["y_norm"], name="/Add"),
        node("Add", ["x_last", "eps"], ["x_norm"], name="/Add_1"),
        node("Div", ["y_embed", "y_norm"], ["y_unit"], name="/Div"),
        node("Div", ["x_embed", "x_norm"], ["x_unit"], name="/Div_1"),
        node("Mul", ["y_unit", w.scalar("two_pi", float(2 * np.pi))], ["y_angle"], name="/Mul"),
        node("Mul", ["x_unit", "two_pi"], ["x_angle"], name="/Mul_1"),
        node("Sin", ["y_angle"], ["y_sin"], name="/Sin"),
        node("Cos", ["x_angle"], ["x_cos"], name="/Cos"),
        _unsqueeze(13, w, "y_sin", "y_4d", [1], "/Unsqueeze"),
        _unsqueeze(13, w, "x_cos", "x_4d", [1], "/Unsqueeze_1"),
        node("Concat", ["y_4d", "x_4d"], ["pos"], name="/Concat", axis=1),
        node("Conv", ["pixel_values", w.random("proj.w", 2, 3, 1, 1)], ["features"], name="/proj/Conv"),
        node("Add", ["features", "pos"], ["memory"], name="/Add_2"),
    ]
    inputs = [
        INFO("pixel_values", F, ["batch_size", 3, "height", "width"]),
        INFO("pixel_mask", I64, ["batch_size", "height", "width"]),
    ]
    outputs = [INFO("memory", F, ["batch_size", 2, "height", "width"])]
    return _model("detr", n, inputs, outputs, w, 13)


def dynamo_export_with_einsum() -> onnx.ModelProto:
    """torch.onnx.export(dynamo=True) style: dims named s0/s1, an output dim `s1 + 1`, Einsum for a bilinear
    product, Pad by one on the last axis (opset 18 Pad with axes)."""
    w = Weights(43)
    n = [
        node(
            "Einsum",
            ["x", w.random("bilinear", 8, 8, 4), "y"],
            ["z"],
            name="einsum",
            equation="bi,ijk,bj->bk",
        ),
        node("Unsqueeze", ["z", w.ints("ax", 1)], ["z3"], name="unsqueeze"),
        node("Expand", ["z3", "shape"], ["ze"], name="expand"),
        node(
            "Pad",
            ["ze", w.ints("pads", 0, 1), w.scalar("cval", 0.0), w.ints("pad_axes", 1)],
            ["out"],
            name="pad",
        ),
    ]
    n.insert(0, node("Shape", ["seq"], ["seq_shape"], name="shape"))
    n.insert(
        1, node("Concat", [w.ints("b1", 1), "seq_shape", w.ints("k4", 4)], ["shape0"], name="cat", axis=0)
    )
    n.insert(
        2,
        node("Slice", ["shape0", w.ints("st", 0), w.ints("en", 3), w.ints("sa", 0)], ["shape"], name="slice"),
    )
    inputs = [INFO("x", F, ["s0", 8]), INFO("y", F, ["s0", 8]), INFO("seq", F, ["s1"])]
    outputs = [INFO("out", F, ["s0", "s1 + 1", 4])]
    model = _model("dynamo", n, inputs, outputs, w, 18)
    model.producer_name = "pytorch"
    model.producer_version = "2.5.0"
    return model


# The steps of a user's round trip, by the flags each adds to `prepare` (build: `build`, no TensorRT here).
STEPS = {
    "fp32": ["--verify"],
    "fp16": ["--precision", "fp16", "--target-tensorrt", "11", "--verify"],
    "trt8.5": ["--target-tensorrt", "8.5", "--verify"],
    "trt10": ["--target-tensorrt", "10"],
}


@dataclass
class Architecture:
    factory: Callable[[], onnx.ModelProto]
    # Exit codes other than the usual (prepare 0, build 3) with a word of the error line, by step: what the
    # model cannot do, as the contract says it (a TensorRT parser limit, fp16's precision on an index output).
    expected: dict[str, tuple[int, str]] = field(default_factory=dict)
    slow: bool = False


# fp16 rounding makes a running sum over 256 steps drift past the tolerance, or near-tied scores pick another
# class in some pixels or fall on the other side of the NMS threshold: verification fails (exit 4), saying how to
# keep nodes in fp32, and for integer outputs that they are indices.
_FP16_DIFFERS = {"fp16": (4, "--keep-fp32")}
_INDICES_DIFFER = {"fp16": (4, "are indices")}
_IF_REFUSED = {step: (2, "re-export the model so that both branches") for step in [*STEPS, "build"]}
_ANTIALIAS_REFUSED = {step: (2, "antialias") for step in [*STEPS, "build"]}
# LayerNormalization and GroupNormalization (8.6), Gelu (10.0): TensorRT 8.5's parser has no importer for them.
_NOT_ON_85 = {"trt8.5": (2, "no importer")}
# An opset-18 axes input that TensorRT 8.5's parser drops (a reduction) or refuses (Pad).
_AXES_INPUT_ON_85 = {"trt8.5": (2, "axes input")}


ARCHITECTURES: dict[str, Architecture] = {
    "transformer_opset17": Architecture(transformer_encoder, _NOT_ON_85),
    "transformer_opset13_bool_mask": Architecture(transformer_encoder_decomposed, slow=True),
    "transformer_opset14_unk_dims": Architecture(transformer_encoder_opset14_odd_dims, slow=True),
    "transformer_opset18": Architecture(transformer_encoder_opset18, _NOT_ON_85, slow=True),
    "lstm_states_as_inputs": Architecture(lstm_seq_first),
    "lstm_bidirectional_zero_state": Architecture(lstm_zero_state_bidirectional, slow=True),
    "gru_tf2onnx_sequence_lens": Architecture(gru_with_sequence_lens),
    "loop_greedy_decode": Architecture(loop_greedy_decode),
    "loop_trip_count_from_shape": Architecture(loop_trip_count_from_shape, _FP16_DIFFERS, slow=True),
    "scan_cumulative": Architecture(scan_cumulative, slow=True),
    "if_branches_of_different_shapes": Architecture(if_branches_of_different_shapes, _IF_REFUSED),
    "if_on_batch_size": Architecture(if_on_batch_size),
    "nonzero_gather": Architecture(nonzero_gather),
    "topk_k_from_shape": Architecture(topk_k_from_shape, slow=True),
    "topk_k_from_input": Architecture(topk_k_from_input),
    "range_expand_constant_of_shape": Architecture(range_expand_constant_of_shape),
    "fpn_segmentation_opset11": Architecture(fpn_segmentation, _INDICES_DIFFER, slow=True),
    "fpn_segmentation_opset13": Architecture(fpn_segmentation_opset13, _INDICES_DIFFER, slow=True),
    "yolo_head": Architecture(yolo_head),
    "silero_like_vad": Architecture(silero_like_vad),
    "wav2vec_like_frontend": Architecture(wav2vec_like_frontend),
    "fp16_classifier": Architecture(fp16_classifier),
    "mixed_precision_casts": Architecture(mixed_precision_casts, _NOT_ON_85),
    "opset11_split_squeeze": Architecture(opset11_split_squeeze),
    "opset12_dynamic_slice": Architecture(opset12_dynamic_slice, slow=True),
    "opset18_reductions": Architecture(opset18_reductions, _AXES_INPUT_ON_85),
    "opset18_antialias_resize": Architecture(opset18_reductions_and_antialias, _ANTIALIAS_REFUSED),
    "opset19": Architecture(opset19, _AXES_INPUT_ON_85, slow=True),
    "opset20_gelu": Architecture(opset19_20_ops, _NOT_ON_85),
    "decoder_with_kv_cache": Architecture(decoder_with_kv_cache),
    "vit_with_dynamic_image_size": Architecture(vit_with_dynamic_image_size, _NOT_ON_85),
    "keras_nhwc_classifier": Architecture(keras_nhwc_classifier),
    "paddle_det_head": Architecture(paddle_det_head),
    "nms_postprocess": Architecture(nms_postprocess, _INDICES_DIFFER),
    "clip_text_eos_pooling": Architecture(clip_text_eos_pooling),
    "t5_relative_position_bias": Architecture(t5_relative_position_bias),
    "diffusion_timestep_embedding": Architecture(diffusion_timestep_embedding, _NOT_ON_85),
    "detr_mask_position_embedding": Architecture(detr_mask_position_embedding),
    "dynamo_export_with_einsum": Architecture(dynamo_export_with_einsum, _AXES_INPUT_ON_85),
}
