"""Reads the image bundle ./x data builds (target/data/<name>.idx.gz): the four IDX files of an
MNIST-shaped dataset concatenated and gzipped (train images, train labels, test images, test
labels). Shared by check_weights.py and torch_bench.py."""

import gzip

import numpy as np


def read(path):
    """(train images, train labels, test images, test labels) as uint8 numpy arrays."""
    raw = gzip.decompress(open(path, "rb").read())
    at, parts = 0, []
    for _ in range(4):
        dims = raw[at + 3]
        shape = [int.from_bytes(raw[at + 4 + 4 * i : at + 8 + 4 * i], "big") for i in range(dims)]
        start = at + 4 + 4 * dims
        size = int(np.prod(shape))
        parts.append(np.frombuffer(raw, dtype=np.uint8, count=size, offset=start).reshape(shape))
        at = start + size
    return parts
