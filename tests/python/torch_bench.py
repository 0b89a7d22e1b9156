"""PyTorch's side of the native GPU race: the same nets, batches and optimizers as gradlab's presets.

Run on a machine with PyTorch and a GPU (the lent device; never in CI). Prints one JSON object per
epoch: the model, epoch, samples/s over the epoch's training steps (data already on the GPU, batches
gathered there by index, as gradlab's trainer does), and the test accuracy after it. Then the
playground's default net (2-4-2-1 tanh, batch 10, SGD 0.03) as milliseconds per step.

usage: torch_bench.py BUNDLE [EPOCHS]
  BUNDLE: the gzip of the four MNIST IDX files that ./x data builds (target/data/mnist.idx.gz)
"""

import json
import sys
import time

import numpy as np
import torch
from torch import nn

from bundle import read as read_bundle


class MlpKeras(nn.Module):
    """Essay 000: Flatten → Dense 128 ReLU → Dropout 0.2 → Dense 10."""

    def __init__(self):
        super().__init__()
        self.fc1, self.drop, self.fc2 = nn.Linear(784, 128), nn.Dropout(0.2), nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.fc1(x.flatten(1)))))


class CnnTorch(nn.Module):
    """Essay 002 (with the erratum: padding 2): Conv 5×5 ×32 → ReLU → MaxPool 2 → fc1 → ReLU → fc2."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.fc1, self.fc2 = nn.Linear(32 * 14 * 14, 10), nn.Linear(10, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def race(name, model, optimizer, batch, epochs, data, dev):
    xtr, ytr, xte, yte = data
    n = xtr.shape[0]
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator(device=dev).manual_seed(1)
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n, device=dev, generator=g)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, n - batch + 1, batch):
            idx = order[i : i + batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            optimizer.step()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        model.eval()
        with torch.no_grad():
            acc = sum((model(xte[i : i + 1000]).argmax(1) == yte[i : i + 1000]).sum().item() for i in range(0, xte.shape[0], 1000)) / xte.shape[0]
        steps = n // batch
        print(json.dumps({"torch": name, "epoch": epoch, "samples_per_sec": round(steps * batch / seconds, 1), "ms_per_step": round(1000 * seconds / steps, 4), "test_accuracy": acc}), flush=True)


def playground(dev):
    """TF Playground's default net on 250 training points (circle-like random data), batch 10, SGD."""
    torch.manual_seed(1)
    x = torch.randn(250, 2, device=dev)
    y = (x.norm(dim=1, keepdim=True) < 1).float()
    net = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2), nn.Tanh(), nn.Linear(2, 1), nn.Sigmoid()).to(dev)
    opt = torch.optim.SGD(net.parameters(), lr=0.03)
    for steps, timed in ((200, False), (2000, True)):
        torch.cuda.synchronize()
        start = time.perf_counter()
        for s in range(steps):
            i = (s * 10) % 250
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.binary_cross_entropy(net(x[i : i + 10]), y[i : i + 10])
            loss.backward()
            opt.step()
            if s % 10 == 9:
                loss.item()
        torch.cuda.synchronize()
        if timed:
            seconds = time.perf_counter() - start
            print(json.dumps({"torch": "playground-4-2", "steps_per_sec": round(steps / seconds, 1), "ms_per_step": round(1000 * seconds / steps, 4)}), flush=True)


def ops(dev):
    """Each op of a cnn-torch step at batch 100 alone, as `gradlab bench --ops` times them."""
    n, c = 100, 32
    x = torch.rand(n, 1, 28, 28, device=dev) * 2 - 1
    w, b = torch.rand(c, 1, 5, 5, device=dev) * 2 - 1, torch.rand(c, device=dev) * 2 - 1
    y = torch.conv2d(x, w, b, padding=2)
    g_y = torch.rand_like(y)
    relu = torch.relu(y)
    pooled, idx = torch.nn.functional.max_pool2d(relu, 2, return_indices=True)
    g_pool = torch.rand_like(pooled)
    flat = pooled.flatten(1)
    fw, fb = torch.rand(10, c * 14 * 14, device=dev) * 2 - 1, torch.rand(10, device=dev) * 2 - 1
    g_logits = torch.rand(n, 10, device=dev)
    cases = {
        "conv2d forward": lambda: torch.conv2d(x, w, b, padding=2),
        "conv2d backward (weight, bias)": lambda: (torch.nn.grad.conv2d_weight(x, w.shape, g_y, padding=2), g_y.sum((0, 2, 3))),
        "relu forward": lambda: torch.relu(y),
        "relu backward": lambda: g_y * (y > 0),
        "max-pool forward": lambda: torch.nn.functional.max_pool2d(relu, 2, return_indices=True),
        "max-pool backward": lambda: torch.ops.aten.max_pool2d_with_indices_backward(g_pool, relu, [2, 2], [2, 2], [0, 0], [1, 1], False, idx),
        "linear forward": lambda: torch.nn.functional.linear(flat, fw, fb),
        "linear backward": lambda: (g_logits.t() @ flat, g_logits @ fw, g_logits.sum(0)),
    }
    for name, f in cases.items():
        for _ in range(3):
            f()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(50):
            f()
        end.record()
        torch.cuda.synchronize()
        print(json.dumps({"torch": "op", "op": name, "batch": n, "ms": round(start.elapsed_time(end) / 50, 4)}), flush=True)


def gan(dev):
    """The essay's GAN, corrected, as gradlab's gan-essay trains it: one G+D step at batch 64
    (D on reals and detached fakes, then G with the non-saturating loss), Adam 2e-4, betas (0.5, 0.999)."""
    leak = lambda: nn.LeakyReLU(0.2)
    g = nn.Sequential(nn.Linear(100, 256), leak(), nn.Linear(256, 512), leak(), nn.Linear(512, 1024), leak(),
                      nn.Linear(1024, 3000), nn.Tanh(), nn.Linear(3000, 784), nn.Sigmoid()).to(dev)
    d = nn.Sequential(nn.Linear(784, 1024), leak(), nn.Linear(1024, 512), leak(), nn.Linear(512, 256), leak(), nn.Linear(256, 1)).to(dev)
    og = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = torch.rand(64, 784, device=dev)
    ones, zeros = torch.ones(64, 1, device=dev), torch.zeros(64, 1, device=dev)

    def step():
        od.zero_grad(set_to_none=True)
        fake = g(torch.randn(64, 100, device=dev)).detach()
        (bce(d(real), ones) + bce(d(fake), zeros)).backward()
        od.step()
        og.zero_grad(set_to_none=True)
        loss = bce(d(g(torch.randn(64, 100, device=dev))), ones)
        loss.backward()
        og.step()
        return loss

    for _ in range(10):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(200):
        step()
    torch.cuda.synchronize()
    ms = 1000 * (time.perf_counter() - start) / 200
    print(json.dumps({"torch": "gan-essay", "batch": 64, "ms_per_step": round(ms, 4), "samples_per_sec": round(64 * 1000 / ms, 1)}), flush=True)


def main():
    path = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    dev = torch.device("cuda")
    print(json.dumps({"torch_version": torch.__version__, "device": torch.cuda.get_device_name(0)}), flush=True)
    tr_x, tr_y, te_x, te_y = read_bundle(path)
    to = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28).to(dev)
    data = (to(tr_x), torch.from_numpy(tr_y.astype(np.int64)).to(dev), to(te_x), torch.from_numpy(te_y.astype(np.int64)).to(dev))
    torch.manual_seed(1)
    mlp = MlpKeras().to(dev)
    race("mlp-keras", mlp, torch.optim.Adam(mlp.parameters(), lr=1e-3), 128, epochs, data, dev)
    torch.manual_seed(1)
    cnn = CnnTorch().to(dev)
    race("cnn-torch", cnn, torch.optim.SGD(cnn.parameters(), lr=1e-3, momentum=0.9), 100, epochs, data, dev)
    playground(dev)
    ops(dev)
    gan(dev)


if __name__ == "__main__":
    main()
