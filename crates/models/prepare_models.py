"""One-time model preparation for mandat, run by `mandat models fetch` in a pinned virtual environment.

sface: the shipped SFace int8 block-quantised graph declares 29 graph inputs that no node reads, so ONNX
Runtime refuses it, and its DequantizeLinear weights are slower than fp32. We evaluate every
DequantizeLinear node once (honouring block_size), store its result as an fp32 initialiser and drop
inputs that nothing consumes, and make the batch size symbolic. The output is deterministic for a pinned onnx version.

sface-fp16: a second, genuinely different embedder file for the model-governance tests and for trying
`mandat models register`: every fp32 weight of the prepared SFace rounded to fp16 and stored as such,
with a Cast back to fp32 before use. Its embeddings differ slightly from SFace's, so it must be
evaluated and calibrated on its own before any permit may use it.

yunet: make the input's H and W symbolic, so the fully convolutional detector runs at a camera frame's
own size (the Reshape nodes already use [1,-1,k]).
"""
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def dequantize(q, scale, zp, axis, block_size):
    q = q.astype(np.float32)
    zp = np.zeros_like(scale, dtype=np.float32) if zp is None else zp.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1 and q.ndim != scale.ndim:
        return (q - zp) * scale
    axis = axis % q.ndim
    if block_size:
        scale = np.repeat(scale, block_size, axis=axis)
        zp = np.repeat(zp, block_size, axis=axis)
        idx = [slice(None)] * q.ndim
        idx[axis] = slice(0, q.shape[axis])
        scale, zp = scale[tuple(idx)], zp[tuple(idx)]
    elif scale.ndim == 1:
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return ((q - zp) * scale).astype(np.float32)


def fold_sface(src, dst):
    model = onnx.load(src)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    keep_nodes, new_inits = [], {}
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(n in inits for n in node.input if n):
            keep_nodes.append(node)
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        q = numpy_helper.to_array(inits[node.input[0]])
        scale = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
        zp = numpy_helper.to_array(inits[node.input[2]]) if len(node.input) > 2 and node.input[2] else None
        arr = dequantize(q, scale, zp, attrs.get("axis", 1), attrs.get("block_size", 0))
        new_inits[node.output[0]] = numpy_helper.from_array(arr, node.output[0])
    del graph.node[:]
    graph.node.extend(keep_nodes)
    used = {n for node in graph.node for n in node.input} | {o.name for o in graph.output}
    kept = [i for i in graph.initializer if i.name in used] + [t for n, t in new_inits.items() if n in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    # Drop the dangling inputs (no node reads them), and list initialisers as constants rather than
    # overridable inputs, so that ONNX Runtime can fold and fuse them (BatchNorm into Conv).
    init_names = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name in used and i.name not in init_names]
    del graph.input[:]
    graph.input.extend(inputs)
    # A symbolic batch, so several faces can be embedded in one run.
    make_symbolic(graph.input[0].type.tensor_type.shape.dim[0], "batch")
    make_symbolic(graph.output[0].type.tensor_type.shape.dim[0], "batch")
    del graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    check_same_output(src, dst, "data", (1, 3, 112, 112))


def check_same_output(original, folded, input_name, shape):
    """Check the fold by running it: the reference evaluator must give the original graph's output."""
    from onnx.reference import ReferenceEvaluator

    x = np.random.default_rng(2021).uniform(0, 255, shape).astype(np.float32)
    want = ReferenceEvaluator(original).run(None, {input_name: x})[0]
    got = ReferenceEvaluator(folded).run(None, {input_name: x})[0]
    err = float(np.abs(want - got).max())
    if not err <= 1e-5:
        sys.exit(f"folded model differs from the original by {err}; refusing to use it")


def sface_fp16(src, dst):
    model = onnx.load(src)
    graph = model.graph
    casts, inits = [], []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            inits.append(init)
            continue
        arr = numpy_helper.to_array(init).astype(np.float16)
        inits.append(numpy_helper.from_array(arr, init.name + "_fp16"))
        casts.append(onnx.helper.make_node("Cast", [init.name + "_fp16"], [init.name], to=onnx.TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(inits)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, dst)
    from onnx.reference import ReferenceEvaluator

    x = np.random.default_rng(2021).uniform(0, 255, (2, 3, 112, 112)).astype(np.float32)
    a = ReferenceEvaluator(src).run(None, {"data": x})[0]
    b = ReferenceEvaluator(dst).run(None, {"data": x})[0]
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    if not (cos.min() > 0.99 and np.abs(a - b).max() > 0):
        sys.exit(f"fp16 model: cosine to the original {cos.min()}; refusing it")


def make_symbolic(dim, name):
    dim.ClearField("dim_value")
    dim.dim_param = name


def symbolic_yunet(src, dst):
    model = onnx.load(src)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    make_symbolic(dims[2], "height")
    make_symbolic(dims[3], "width")
    # The anchor count of each output follows the input size.
    for out in model.graph.output:
        make_symbolic(out.type.tensor_type.shape.dim[1], "anchors_" + out.name.split("_")[1])
    # Stored intermediate shapes were inferred for 640x640; let the runtime infer them again.
    del model.graph.value_info[:]
    onnx.checker.check_model(model)
    onnx.save(model, dst)


if __name__ == "__main__":
    what, src, dst = sys.argv[1:4]
    {"sface": fold_sface, "sface-fp16": sface_fp16, "yunet": symbolic_yunet}[what](src, dst)
