#!/usr/bin/python3
"""PyTorch side of bench/mlp_vs_torch.sh: the same MLP as `kiln train`
(784-512-256-10, ReLU, Adam lr 1e-3, batch 128, 2 threads), timing each epoch
over the Fashion-MNIST training set. Prints 'epoch_seconds <s>' per epoch.
Run with Debian's python3-torch: /usr/bin/python3 bench/torch_mlp_epoch.py EPOCHS THREADS"""
import gzip
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
torch.set_num_threads(threads)
torch.manual_seed(0)
root = "/usr/share/datasets/fashion-mnist/"


def read_idx(name):
    raw = gzip.open(root + name).read()
    dims = struct.unpack(">" + "I" * raw[3], raw[4:4 + 4 * raw[3]])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)


x = torch.tensor(read_idx("train-images-idx3-ubyte.gz"), dtype=torch.float32).view(-1, 784) / 255.0
y = torch.tensor(read_idx("train-labels-idx1-ubyte.gz").astype(np.int64))
model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
for epoch in range(epochs):
    perm = torch.randperm(len(x))
    start = time.perf_counter()
    for i in range(0, len(x), 128):
        idx = perm[i:i + 128]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    print(f"epoch_seconds {time.perf_counter() - start:.4f}", flush=True)
