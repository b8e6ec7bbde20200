#!/usr/bin/env python3
"""beanscan's model on burn (CPU) side by side with the same architecture in PyTorch (training
step) and onnxruntime (one photo's embedding), measured in one run, rounds interleaved.

    python3 bench/peers.py [--rounds 3] [--reps 20] [--batch 32] [--onnx bench/results/embedder.onnx]
    python3 bench/peers.py --export-only      # just write the ONNX file (for bench/browser.mjs)

Needs: pip install torch onnx onnxruntime. Runs `cargo bench --bench model` itself (or the
binary named by $BEANSCAN_MODEL_BENCH). Writes the ONNX twin of the embedder (random weights),
which the browser benchmark also loads, and prints a markdown table.
"""
import argparse
import json
import os
import statistics
import subprocess
import time

import torch
from torch import nn


def conv3x3(cin, cout, stride):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def norm(c):
    # Same grouping as src/model.rs: channels / 8 groups.
    return nn.GroupNorm(max(c // 8, 1), c)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.norm1 = conv3x3(cin, cout, stride), norm(cout)
        self.conv2, self.norm2 = conv3x3(cout, cout, 1), norm(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        skip = self.shortcut(x) if self.shortcut is not None else x
        y = torch.relu(self.norm1(self.conv1(x)))
        return torch.relu(self.norm2(self.conv2(y)) + skip)


class Encoder(nn.Module):
    def __init__(self, width=16, blocks=2, code=128):
        super().__init__()
        widths = [width, width * 2, width * 4, width * 8]
        self.stem, self.stem_norm = conv3x3(3, widths[0], 2), norm(widths[0])
        layers, cin = [], widths[0]
        for stage, cout in enumerate(widths):
            for b in range(blocks):
                layers.append(ResBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(widths[3], code)

    def forward(self, x):
        x = self.blocks(torch.relu(self.stem_norm(self.stem(x))))
        return self.fc(x.mean(dim=(2, 3)))


class Decoder(nn.Module):
    def __init__(self, size=64, width=16, code=128):
        super().__init__()
        w = [width, width * 2, width * 4, width * 8]
        self.side, self.channels = size // 16, w[3]
        self.fc = nn.Linear(code, w[3] * self.side * self.side)
        self.ups = nn.ModuleList(
            [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1) for a, b in [(w[3], w[2]), (w[2], w[1]), (w[1], w[0]), (w[0], 3)]]
        )

    def forward(self, code):
        x = torch.relu(self.fc(code)).view(-1, self.channels, self.side, self.side)
        for i, up in enumerate(self.ups):
            x = up(x)
            if i != len(self.ups) - 1:
                x = torch.relu(x)
        return x


class Embedder(nn.Module):
    """Encoder + projection head (fixed code standardisation, two linear layers), L2-normalised."""

    def __init__(self, width=16, code=128, embed=128):
        super().__init__()
        self.encoder = Encoder(width, code=code)
        self.register_buffer("code_mean", torch.zeros(code))
        self.register_buffer("code_inv_std", torch.ones(code))
        self.fc1, self.fc2 = nn.Linear(code, code), nn.Linear(code, embed)

    def forward(self, x):
        z = (self.encoder(x) - self.code_mean) * self.code_inv_std
        e = self.fc2(torch.relu(self.fc1(z)))
        return e / e.norm(dim=1, keepdim=True).clamp_min(1e-12)


def inputs(n, size):
    # The same deterministic values as benches/model.rs.
    i = torch.arange(n * 3 * size * size, dtype=torch.int64)
    return ((i * 7919 % 1000).float() / 500.0 - 1.0).view(n, 3, size, size)


def torch_train_ms(size, width, batch, reps):
    torch.manual_seed(0)
    enc, dec = Encoder(width), Decoder(size, width)
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)
    x = inputs(batch, size)
    times = []
    for rep in range(reps + 3):
        t = time.perf_counter()
        loss = ((dec(enc(x)) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
        if rep >= 3:
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def export_onnx(path, size, width):
    torch.manual_seed(0)
    model = Embedder(width).eval()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    torch.onnx.export(model, inputs(1, size), path, input_names=["input"], output_names=["embedding"],
                      dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}}, opset_version=17, dynamo=False)
    return path


def ort_embed_ms(path, size, reps):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count()
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    x = inputs(1, size).numpy()
    times = []
    for rep in range(reps + 3):
        t = time.perf_counter()
        session.run(None, {"input": x})
        if rep >= 3:
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def burn_run(args):
    cmd = os.environ.get("BEANSCAN_MODEL_BENCH")
    flags = ["--reps", str(args.reps), "--batch", str(args.batch), "--input-size", str(args.size), "--width", str(args.width)]
    cmd = [cmd] + flags if cmd else ["cargo", "bench", "--quiet", "--bench", "model", "--"] + flags
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--onnx", default="bench/results/embedder.onnx")
    p.add_argument("--json", default="bench/results/peers.json")
    p.add_argument("--export-only", action="store_true", help="write the ONNX file and stop")
    args = p.parse_args()
    torch.set_num_threads(os.cpu_count())
    export_onnx(args.onnx, args.size, args.width)
    if args.export_only:
        print(f"wrote {args.onnx} ({os.path.getsize(args.onnx)} bytes)")
        return
    rounds = []
    for r in range(args.rounds):
        b = burn_run(args)
        t_train = torch_train_ms(args.size, args.width, args.batch, args.reps)
        o_embed = ort_embed_ms(args.onnx, args.size, args.reps * 5)
        rounds.append({"burn_train_ms": b["train_step_ms"], "torch_train_ms": t_train,
                       "burn_embed_ms": b["embed_ms"], "ort_embed_ms": o_embed})
        print(f"round {r + 1}: {rounds[-1]}", flush=True)
    med = {k: statistics.median(x[k] for x in rounds) for k in rounds[0]}
    ratio_train = statistics.median(x["burn_train_ms"] / x["torch_train_ms"] for x in rounds)
    ratio_embed = statistics.median(x["burn_embed_ms"] / x["ort_embed_ms"] for x in rounds)
    print(f"\n{os.cpu_count()} threads, {args.size}px, width {args.width}, batch {args.batch}, medians of {args.rounds} interleaved rounds\n")
    print("| measurement | burn (flex CPU) | peer | ratio burn ÷ peer |\n|---|---|---|---|")
    print(f"| autoencoder training step, batch {args.batch} (ms) | {med['burn_train_ms']:.1f} | PyTorch {torch.__version__.split('+')[0]}: {med['torch_train_ms']:.1f} | {ratio_train:.2} |")
    import onnxruntime
    print(f"| one photo's embedding (ms) | {med['burn_embed_ms']:.2f} | onnxruntime {onnxruntime.__version__}: {med['ort_embed_ms']:.2f} | {ratio_embed:.2f} |")
    with open(args.json, "w") as f:
        json.dump({"settings": vars(args), "threads": os.cpu_count(), "rounds": rounds, "median": med,
                   "ratio_train": ratio_train, "ratio_embed": ratio_embed}, f, indent=2)


if __name__ == "__main__":
    main()
