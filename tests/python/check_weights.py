"""Loads a weights file gradlab exported and checks it is what PyTorch's equivalent module holds.

Without PyTorch: the file is read with safetensors' numpy API, its keys, shapes and dtypes are
compared with the `state_dict()` of the PyTorch module the preset names (written out below), and
the module's forward pass is computed in numpy (evaluation mode) on the first N test images of the
bundle ./x builds. Its class probabilities must match gradlab's (passed as raw little-endian f32)
and so must every predicted class.

usage: check_weights.py PRESET WEIGHTS BUNDLE PROBS N
"""

import sys

import numpy as np
from safetensors.numpy import load_file

from bundle import read as read_bundle

# What `model.state_dict()` holds for each preset's PyTorch module (name: shape, dtype).
#   mlp-keras: nn.Sequential-free module with fc1 = nn.Linear(784, 128), fc2 = nn.Linear(128, 10)
#   cnn-torch / cnn-tuned: conv1 = nn.Conv2d(1, 32, 5, padding=2), fc1 = nn.Linear(32*14*14, 10),
#              fc2 = nn.Linear(10, 10)
#   cnn-bn: the same with bn1 = nn.BatchNorm2d(32) after conv1
LINEAR = {"fc1.weight": (128, 784), "fc1.bias": (128,), "fc2.weight": (10, 128), "fc2.bias": (10,)}
CNN = {
    "conv1.weight": (32, 1, 5, 5),
    "conv1.bias": (32,),
    "fc1.weight": (10, 32 * 14 * 14),
    "fc1.bias": (10,),
    "fc2.weight": (10, 10),
    "fc2.bias": (10,),
}
BN = {"bn1.weight": (32,), "bn1.bias": (32,), "bn1.running_mean": (32,), "bn1.running_var": (32,), "bn1.num_batches_tracked": ()}
LAYOUTS = {"mlp-keras": LINEAR, "cnn-torch": CNN, "cnn-tuned": CNN, "cnn-bn": {**CNN, **BN}}


def test_images(bundle, n):
    """The first n test images (pixels / 255, [n, 1, 28, 28]) of a gradlab bundle: the four IDX
    files of MNIST concatenated (train images, train labels, test images, test labels)."""
    images, labels = read_bundle(bundle)[2:]
    return images[:n].reshape(n, 1, 28, 28).astype(np.float32) / 255.0, labels[:n]


def linear(x, w, b):
    return x @ w.T + b


def conv2d(x, w, b, padding):
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = h + 2 * padding - k + 1, wd + 2 * padding - k + 1
    windows = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, :oh, :ow]
    return np.einsum("nchwuv,ocuv->nohw", windows, w, optimize=True) + b[None, :, None, None]


def forward(preset, sd, x):
    x = x.astype(np.float64)
    p = {k: v.astype(np.float64) for k, v in sd.items() if v.dtype != np.int64}
    if preset == "mlp-keras":
        h = np.maximum(linear(x.reshape(len(x), -1), p["fc1.weight"], p["fc1.bias"]), 0)
        return linear(h, p["fc2.weight"], p["fc2.bias"])
    h = conv2d(x, p["conv1.weight"], p["conv1.bias"], 2)
    if preset == "cnn-bn":
        mean, var = p["bn1.running_mean"], p["bn1.running_var"]
        scale = p["bn1.weight"] / np.sqrt(var + 1e-5)
        h = (h - mean[None, :, None, None]) * scale[None, :, None, None] + p["bn1.bias"][None, :, None, None]
    h = np.maximum(h, 0)
    n, c, hh, ww = h.shape
    h = h.reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
    h = np.maximum(linear(h.reshape(n, -1), p["fc1.weight"], p["fc1.bias"]), 0)
    return linear(h, p["fc2.weight"], p["fc2.bias"])


def main():
    preset, weights, bundle, probs_path, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    sd = load_file(weights)
    expected = LAYOUTS[preset]
    if set(sd) != set(expected):
        sys.exit(f"keys differ from the PyTorch module's state_dict: missing {sorted(set(expected) - set(sd))}, unexpected {sorted(set(sd) - set(expected))}")
    for name, shape in expected.items():
        dtype = np.int64 if name.endswith("num_batches_tracked") else np.float32
        if sd[name].shape != shape or sd[name].dtype != dtype:
            sys.exit(f"{name}: {sd[name].dtype} {sd[name].shape}, PyTorch's is {np.dtype(dtype)} {shape}")
    x, labels = test_images(bundle, n)
    logits = forward(preset, sd, x)
    z = logits - logits.max(axis=1, keepdims=True)
    ours = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    theirs = np.fromfile(probs_path, dtype="<f4").reshape(n, 10)
    worst = float(np.abs(ours - theirs).max())
    same = int((ours.argmax(1) == theirs.argmax(1)).sum())
    accuracy = float((ours.argmax(1) == labels).mean())
    print(f"{preset}: {same}/{n} predictions equal, largest probability difference {worst:.2e}, accuracy {accuracy:.4f}")
    if same != n or worst > 1e-4:
        sys.exit(1)


if __name__ == "__main__":
    main()
