"""The ONNX twin of beanscan's encoder written layer by layer with the `onnx` package, for machines
without PyTorch (bench/lite0-onnx.py needs it). Same network as that script exports, with random
weights (speed does not depend on them): EfficientNet-Lite0 with its BatchNorms folded (as the
bundle runs it), cut after `--blocks` blocks (17: through the 320 → 1280 head conv), each k×k
convolution behind a zero Pad as the PyTorch export has it ("SAME" padding, one pixel more after
on stride 2), ReLU6 as Clip, global average pool, then beanscan's projection head (standardise,
channels → 256, ReLU, 256 → 128, L2-normalise).

    pip install onnx numpy
    python3 bench/lite0-onnx-graph.py [--size 128] [--blocks 17] [--out bench/results/lite0-embedder.onnx]
    python3 bench/lite0-onnx-graph.py --compare OTHER.onnx --blocks 14   # same layers as OTHER?

`--compare` lists both graphs' layers (op, weight shapes, strides, groups; the PyTorch export's
padding arithmetic left out) and exits 1 unless they are the same.
"""
import argparse
import collections
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# (cin, cout, expand, kernel, stride) per block, as src/lite0.rs SPECS.
SPECS = [
    (32, 16, 1, 3, 1), (16, 24, 6, 3, 2), (24, 24, 6, 3, 1), (24, 40, 6, 5, 2), (40, 40, 6, 5, 1),
    (40, 80, 6, 3, 2), (80, 80, 6, 3, 1), (80, 80, 6, 3, 1), (80, 112, 6, 5, 1), (112, 112, 6, 5, 1),
    (112, 112, 6, 5, 1), (112, 192, 6, 5, 2), (192, 192, 6, 5, 1), (192, 192, 6, 5, 1), (192, 192, 6, 5, 1),
    (192, 320, 6, 3, 1),
]


class Graph:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, what):
        self.n += 1
        return f'{what}_{self.n}'

    def const(self, array, what='c'):
        name = self.name(what)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x, cin, cout, kernel, stride=1, groups=1):
        if kernel > 1:  # "SAME": stride 2 pads one pixel more after (bottom, right)
            total = kernel - 2 if stride == 2 else kernel - 1
            before, after = total // 2, total - total // 2
            x = self.node('Pad', [x, self.const(np.array([0, 0, before, before, 0, 0, after, after], np.int64), 'pads')])
        w = self.const((self.rng.standard_normal((cout, cin // groups, kernel, kernel)) * 0.1).astype(np.float32), 'w')
        b = self.const(np.zeros(cout, np.float32), 'b')
        return self.node('Conv', [x, w, b], kernel_shape=[kernel, kernel], strides=[stride, stride], group=groups,
                         pads=[0, 0, 0, 0], dilations=[1, 1])

    def relu6(self, x):
        return self.node('Clip', [x, self.const(np.float32(0)), self.const(np.float32(6))])


def build(blocks, size, hidden=256, embed=128, seed=0):
    g = Graph(seed)
    x = g.relu6(g.conv('input', 3, 32, 3, 2))
    for cin, cout, expand, kernel, stride in SPECS[:min(blocks, len(SPECS))]:
        y, mid = x, cin * expand
        if expand != 1:
            y = g.relu6(g.conv(y, cin, mid, 1))
        y = g.relu6(g.conv(y, mid, mid, kernel, stride, groups=mid))
        y = g.conv(y, mid, cout, 1)
        x = g.node('Add', [y, x]) if stride == 1 and cin == cout else y
    channels = SPECS[min(blocks, len(SPECS)) - 1][1]
    if blocks > len(SPECS):
        x, channels = g.relu6(g.conv(x, 320, 1280, 1)), 1280
    f = g.node('ReduceMean', [x], axes=[2, 3], keepdims=0)
    f = g.node('Mul', [g.node('Sub', [f, g.const(np.zeros(channels, np.float32))]), g.const(np.ones(channels, np.float32))])
    dense = lambda v, i, o: g.node('Gemm', [v, g.const((g.rng.standard_normal((o, i)) * 0.05).astype(np.float32)),
                                            g.const(np.zeros(o, np.float32))], transB=1)
    e = dense(g.node('Relu', [dense(f, channels, hidden)]), hidden, embed)
    norm = g.node('Clip', [g.node('ReduceL2', [e], axes=[1], keepdims=1), g.const(np.float32(1e-12))])
    g.nodes.append(helper.make_node('Div', [e, norm], ['embedding']))
    graph = helper.make_graph(
        g.nodes, 'beanscan-lite0-twin',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['batch', 3, size, size])],
        [helper.make_tensor_value_info('embedding', TensorProto.FLOAT, ['batch', embed])], g.inits)
    # IR version 8 goes with opset 17 (as the PyTorch export writes); newer onnx packages default
    # to a version onnxruntime-web 1.30 refuses.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='beanscan', ir_version=8)
    onnx.checker.check_model(model)
    return model


def layers(model):
    """(op, weight shapes, strides, groups) of every layer that computes, in order."""
    shapes = {i.name: tuple(i.dims) for i in model.graph.initializer}
    for n in model.graph.node:  # the PyTorch export keeps some weights in Constant nodes
        if n.op_type == 'Constant':
            shapes[n.output[0]] = tuple(onnx.helper.get_attribute_value(n.attribute[0]).dims)
    out = []
    for n in model.graph.node:
        if n.op_type in ('Conv', 'Gemm', 'Clip', 'Add', 'Relu', 'ReduceMean', 'ReduceL2', 'Div', 'Sub', 'Mul'):
            a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
            w = shapes.get(n.input[1]) if n.op_type in ('Conv', 'Gemm') else None
            out.append((n.op_type, w, tuple(a.get('strides', ())), a.get('group')))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--blocks', type=int, default=17, help='cut after this many blocks (17: through the head conv)')
    p.add_argument('--out', default='bench/results/lite0-embedder.onnx')
    p.add_argument('--compare', help='an ONNX file to compare layer by layer (e.g. lite0-onnx.py output)')
    args = p.parse_args()
    model = build(args.blocks, args.size)
    if args.compare:
        ours, theirs = layers(model), layers(onnx.load(args.compare))
        print('ours:  ', dict(collections.Counter(op for op, *_ in ours)))
        print('theirs:', dict(collections.Counter(op for op, *_ in theirs)))
        diff = [(i, a, b) for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
        for i, a, b in diff[:10]:
            print(f'layer {i}: ours {a}, theirs {b}')
        same = not diff and len(ours) == len(theirs)
        print('same layers' if same else f'different: {len(diff)} layers differ, {len(ours)} vs {len(theirs)} layers')
        sys.exit(0 if same else 1)
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    onnx.save(model, args.out)
    print(f'wrote {args.out} ({os.path.getsize(args.out)} bytes)')


if __name__ == '__main__':
    main()
