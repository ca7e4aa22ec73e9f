"""Tiny real ONNX models, built with `onnx.helper`, for the `onnx` backend's tests.

Each is a 3x3 convolution with fixed (seeded) weights and a ReLU, then a head: average
pooling + flatten (a vector), the raw feature map (spatial: dupgate pools it), an in-graph
global average pool (the reference for dupgate's pooling), or a rank-3 output (not a vector).
`sscd_like_model` has the signature of copy-detection exports (any height and width, float
NCHW or uint8 NHWC); `size_echo_model` reports the height and width it was fed.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from dupgate_hook.backends.onnx_backend import IMAGENET_MEAN, IMAGENET_STD

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
    node = (
        helper.make_node("Relu", ["x"], ["y"])
        if elem == TensorProto.FLOAT
        else helper.make_node("Identity", ["x"], ["y"])
    )
    return _save(helper.make_graph([node], "odd", [x], [y]), path)


def two_input_model(path: Path) -> Path:
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3, 32, 32])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 32, 32])
    return _save(helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two", [a, b], [y]), path)


def sscd_like_model(
    path: Path,
    *,
    seed: int = 0,
    dims: int = 256,
    uint8_nhwc: bool = False,
    batch: int | str = 1,
) -> Path:
    """The signature of Meta's SSCD exports: any H and W in, one descriptor per image out.

    float32 (batch, 3, H, W), fed ImageNet-normalised pixels -> Conv + ReLU ->
    GlobalAveragePool -> centred -> (batch, dims). With `uint8_nhwc` the input is raw pixels
    (batch, H, W, 3) as uint8, and the graph itself casts, normalises and transposes, so its
    vectors equal the float model's (same seed) when dupgate feeds each what it declares.
    """
    weights, bias, centre = _sscd_like_weights(seed, dims)
    inits = [
        numpy_helper.from_array(weights, "W"),
        numpy_helper.from_array(bias, "B"),
        numpy_helper.from_array(centre, "centre"),
    ]
    nodes = []
    source = "image"
    if uint8_nhwc:
        x = helper.make_tensor_value_info("image", TensorProto.UINT8, [batch, "height", "width", 3])
        mean = np.array(IMAGENET_MEAN, dtype=np.float32).reshape(1, 1, 1, 3)
        std = np.array(IMAGENET_STD, dtype=np.float32).reshape(1, 1, 1, 3)
        inits += [numpy_helper.from_array(mean, "mean"), numpy_helper.from_array(std, "std")]
        nodes += [
            helper.make_node("Cast", ["image"], ["pixels"], to=TensorProto.FLOAT),
            helper.make_node("Sub", ["pixels", "mean"], ["centred"]),
            helper.make_node("Div", ["centred", "std"], ["scaled"]),
            helper.make_node("Transpose", ["scaled"], ["nchw"], perm=[0, 3, 1, 2]),
        ]
        source = "nchw"
    else:
        x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, "height", "width"])
    nodes += [
        helper.make_node("Conv", [source, "W", "B"], ["conv"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv"], ["relu"]),
        helper.make_node("GlobalAveragePool", ["relu"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        # centred, as a trained descriptor's whitening would: see _centre
        helper.make_node("ReduceMean", ["flat"], ["average"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["flat", "average"], ["level"]),
        helper.make_node("Sub", ["level", "centre"], ["embeddings"]),
    ]
    y = helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, [batch, dims])
    return _save(helper.make_graph(nodes, "sscd-like", [x], [y], inits), path)


@functools.lru_cache(maxsize=8)
def _sscd_like_weights(seed: int, dims: int, side: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Conv weights and bias, and the average (levelled) pooled feature of generated pictures.

    Pooled ReLU features all point roughly the same way, so unrelated pictures would score
    0.99; subtracting each vector's own mean and then this average (computed here in numpy)
    spreads them: distinct pictures then score below 0.9, resized JPEG copies above 0.95.
    """
    from pictures import picture

    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 1.0, size=(dims, 3, 3, 3)).astype(np.float32)
    bias = rng.normal(-2.0, 1.0, size=(dims,)).astype(np.float32)
    rows = []
    for seed in range(1000, 1032):
        img = picture(seed)
        img = img.resize((round(img.width * side / img.height), side), Image.Resampling.BILINEAR)
        x = (np.asarray(img, dtype=np.float32) - IMAGENET_MEAN) / IMAGENET_STD
        padded = np.pad(x.transpose(2, 0, 1), ((0, 0), (1, 1), (1, 1)))
        patches = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))  # C,H,W,3,3
        columns = patches.transpose(1, 2, 0, 3, 4).reshape(-1, weights[0].size)
        conv = columns @ weights.reshape(len(weights), -1).T + bias  # (H * W, dims)
        pooled = np.maximum(conv, 0).mean(axis=0)
        rows.append(pooled - pooled.mean())
    return weights, bias, np.mean(rows, axis=0).astype(np.float32)[None, :]


def size_echo_model(path: Path, *, layout: str = "nchw", batch: int | str = 1) -> Path:
    """Outputs (H, W, 1) of whatever image it is fed: after L2 normalisation H = v[0] / v[2]."""
    shape: list[int | str] = [batch, 3, "height", "width"]
    if layout == "nhwc":
        shape = [batch, "height", "width", 3]
    start = 2 if layout == "nchw" else 1
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, shape)
    inits = [
        numpy_helper.from_array(np.array([start], dtype=np.int64), "start"),
        numpy_helper.from_array(np.array([start + 2], dtype=np.int64), "end"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
    ]
    nodes = [
        helper.make_node("Shape", ["image"], ["shape"]),
        helper.make_node("Slice", ["shape", "start", "end"], ["hw"]),
        helper.make_node("Cast", ["hw"], ["hw_float"], to=TensorProto.FLOAT),
        helper.make_node("Concat", ["hw_float", "one"], ["hw1"], axis=0),
        # one row per image: broadcast (3,) against the batch taken from the image itself
        helper.make_node("ReduceMean", ["image"], ["per_image"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["per_image", "zero_f"], ["zeros"]),
        helper.make_node("Unsqueeze", ["zeros", "one_axis"], ["zeros_col"]),
        helper.make_node("Add", ["zeros_col", "hw1"], ["sizes"]),
    ]
    inits += [
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero_f"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "one_axis"),
    ]
    y = helper.make_tensor_value_info("sizes", TensorProto.FLOAT, [batch, 3])
    return _save(helper.make_graph(nodes, "size-echo", [x], [y], inits), path)
