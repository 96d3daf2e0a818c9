#!/usr/bin/python3
"""PyTorch side of bench/cnn_vs_torch.sh: the CNN of bench/configs/fashion_cnn.toml
(conv3x3 1->32 same, BatchNorm2d, ReLU, maxpool 2, conv3x3 32->64 same,
BatchNorm2d, ReLU, maxpool 2, flatten, dense 3136->128 ReLU, dropout 0.3,
dense 10), Adam lr 1e-3, batch 128, on the first LIMIT Fashion-MNIST training
images (0: all 60000), shuffled each epoch. Prints 'epoch_seconds <s>' per
epoch: the training steps only, as kiln's 'epoch N/M (<s> s, ...)' line.
Then, as `kiln train` does at the end of a run, it evaluates the test images
(the first LIMIT/6 with a limit) in batches of 256, so both processes' peak
memory covers the same work. Run with Debian's python3-torch:
  /usr/bin/python3 bench/torch_cnn.py EPOCHS THREADS [LIMIT]"""
import gzip
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
limit = int(sys.argv[3]) if len(sys.argv) > 3 else 0
torch.set_num_threads(threads)
torch.manual_seed(0)
root = "/usr/share/datasets/fashion-mnist/"


def read_idx(name):
    raw = gzip.open(root + name).read()
    dims = struct.unpack(">" + "I" * raw[3], raw[4:4 + 4 * raw[3]])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * raw[3]).reshape(dims)


def load(split, n):
    images = read_idx(split + "-images-idx3-ubyte.gz")
    labels = read_idx(split + "-labels-idx1-ubyte.gz")
    if n > 0:
        images, labels = images[:n], labels[:n]
    return (torch.tensor(images, dtype=torch.float32).view(-1, 1, 28, 28) / 255.0,
            torch.tensor(labels.astype(np.int64)))


x, y = load("train", limit)
x_test, y_test = load("t10k", (limit + 5) // 6 if limit > 0 else 0)
model = nn.Sequential(
    nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
model.train()
for epoch in range(epochs):
    perm = torch.randperm(len(x))
    start = time.perf_counter()
    loss_sum = 0.0
    for i in range(0, len(x), 128):
        idx = perm[i:i + 128]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        loss_sum += loss.item()  # as kiln's trainer: the loss comes back to the host every step
    print(f"epoch_seconds {time.perf_counter() - start:.4f}", flush=True)
model.eval()
with torch.no_grad():
    hits = sum((model(x_test[i:i + 256]).argmax(1) == y_test[i:i + 256]).sum().item()
               for i in range(0, len(x_test), 256))
print(f"test_accuracy {hits / len(x_test):.4f}")
