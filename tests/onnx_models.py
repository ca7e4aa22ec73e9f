"""Tiny real ONNX models, built with `onnx.helper`, for the `onnx` backend's tests.

Each is a 3x3 convolution with fixed (seeded) weights and a ReLU, then a head: average
pooling + flatten (a vector), the raw feature map (spatial: dupgate pools it), an in-graph
global average pool (the reference for dupgate's pooling), or a rank-3 output (not a vector).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
IR_VERSION = 8  # old enough for every onnxruntime the `onnx` extra accepts
CHANNELS = 8


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _average_pool_4x4() -> onnx.NodeProto:
    return helper.make_node("AveragePool", ["relu"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4])


def conv_model(
    path: Path,
    *,
    head: str = "flatten",
    seed: int = 0,
    side: int | str = 32,
    layout: str = "nchw",
    batch: int | str = "N",
    reverse_channels: bool = False,
) -> Path:
    """Conv(3->8, fixed weights) + ReLU + `head`; `side` may be a symbolic name (any size)."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 1.0, size=(CHANNELS, 3, 3, 3)).astype(np.float32)
    if reverse_channels:  # the same filters for a model fed BGR instead of RGB
        weights = np.ascontiguousarray(weights[:, ::-1])
    bias = rng.normal(0.0, 0.1, size=(CHANNELS,)).astype(np.float32)
    inits = [numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")]
    nodes = []
    shape: list[int | str] = [batch, 3, side, side] if layout == "nchw" else [batch, side, side, 3]
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)
    source = "image"
    if layout == "nhwc":
        nodes.append(helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2]))
        source = "nchw"
    nodes.append(helper.make_node("Conv", [source, "W", "B"], ["conv"], pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["conv"], ["relu"]))
    out_shape: list[int | str] = [batch, "D"]
    if head == "flatten":
        nodes.append(_average_pool_4x4())
        nodes.append(helper.make_node("Flatten", ["pooled"], ["features"]))
    elif head == "dense":  # like VGG's fc layers: runs only at the size it was made for
        nodes.append(_average_pool_4x4())
        inits.append(numpy_helper.from_array(np.array([-1, 512], dtype=np.int64), "S"))
        nodes.append(helper.make_node("Reshape", ["pooled", "S"], ["features"]))
    elif head == "gap":
        nodes.append(helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]))
        nodes.append(helper.make_node("Flatten", ["pooled"], ["features"]))
    elif head == "spatial":
        perm = [0, 2, 3, 1] if layout == "nhwc" else [0, 1, 2, 3]
        nodes.append(helper.make_node("Transpose", ["relu"], ["features"], perm=perm))
        out_shape = [batch, CHANNELS, "H", "W"] if layout == "nchw" else [batch, "H", "W", CHANNELS]
    elif head == "rank3":
        inits.append(numpy_helper.from_array(np.array([0, CHANNELS, -1], dtype=np.int64), "S"))
        nodes.append(helper.make_node("Reshape", ["relu", "S"], ["features"]))
        out_shape = [batch, CHANNELS, "HW"]
    else:
        raise ValueError(head)
    y = helper.make_tensor_value_info("features", TensorProto.FLOAT, out_shape)
    return _save(helper.make_graph(nodes, "tiny", [x], [y], inits), path)


def two_output_model(path: Path) -> Path:
    """Outputs `logits` (first, 4 values) and `embedding` (the flatten head's vector)."""
    conv_model(path, head="flatten")
    model = onnx.load(str(path))
    rng = np.random.default_rng(7)
    dense = rng.normal(size=(CHANNELS * 8 * 8, 4)).astype(np.float32)
    model.graph.initializer.append(numpy_helper.from_array(dense, "D"))
    model.graph.node.append(helper.make_node("MatMul", ["features", "D"], ["logits"]))
    old = model.graph.output.pop()
    model.graph.output.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4]))
    model.graph.output.append(old)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def odd_input_model(path: Path, shape: list[int | str], elem: int = TensorProto.FLOAT) -> Path:
    """A model whose only input is not a batch of RGB images (it just echoes a Relu of it)."""
    x = helper.make_tensor_value_info("x", elem, shape)
    y = helper.make_tensor_value_info("y", elem, shape)
    node = helper.make_node("Relu", ["x"], ["y"]) if elem == TensorProto.FLOAT else helper.make_node(
        "Identity", ["x"], ["y"]
    )
    return _save(helper.make_graph([node], "odd", [x], [y]), path)


def two_input_model(path: Path) -> Path:
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3, 32, 32])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 32, 32])
    return _save(helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two", [a, b], [y]), path)
