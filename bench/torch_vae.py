#!/usr/bin/python3
"""PyTorch 1.13 (Debian python3-torch) peer of `kiln train examples/vae.toml`.

The same VAE as src/kiln/train/vae_experiment.h: encoder 784-64-32 (ReLU),
mean and log-variance of a 2-d latent, z = mu + sigma * eps, decoder
2-32-64-784 giving logits; loss per image = BCE with logits summed over the
pixels + KL(q(z|x) || N(0, I)), averaged over the batch; RMSprop with Keras'
defaults (lr 1e-3, rho = alpha 0.9, eps 1e-7); batch 128; shuffled every
epoch. Parameter names match kiln's state dict (encoder.0.weight, z_mean.bias,
decoder.4.weight, ...).

Prints, per epoch, the training seconds (forward, backward and update only,
as kiln's epoch lines) and the test-set ELBO (nats per image, one eps per
image from a fixed seed, as kiln evaluates), then a summary line.

Usage: /usr/bin/python3 bench/torch_vae.py [--epochs 20] [--batch 128] [--threads 2] [--seed 42]
Debian's torch does its GEMMs through the system BLAS: install
libopenblas0-pthread, or the timings measure the reference BLAS.
"""
import argparse
import gzip
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist/"


def read_idx(name):
    raw = gzip.open(DATA + name).read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def images(name, limit):
    x = torch.tensor(read_idx(name).reshape(-1, 784), dtype=torch.float32) / 255.0
    return x[:limit] if limit > 0 else x


class Vae(nn.Module):
    def __init__(self, latent=2):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.z_mean = nn.Linear(32, latent)
        self.z_log_var = nn.Linear(32, latent)
        self.decoder = nn.Sequential(nn.Linear(latent, 32), nn.ReLU(), nn.Linear(32, 64), nn.ReLU(),
                                     nn.Linear(64, 784))

    def forward(self, x, generator=None):
        h = self.encoder(x)
        mean, log_var = self.z_mean(h), self.z_log_var(h)
        eps = torch.randn(mean.shape, generator=generator)
        z = mean + torch.exp(0.5 * log_var) * eps
        return self.decoder(z), mean, log_var


def vae_loss(logits, mean, log_var, x):
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl = (-0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(1)).mean()
    return bce + kl, bce, kl


@torch.no_grad()
def test_elbo(model, x, seed):
    gen = torch.Generator().manual_seed(seed)
    bce_sum = kl_sum = 0.0
    for i in range(0, len(x), 1000):
        xb = x[i:i + 1000]
        _, bce, kl = vae_loss(*model(xb, gen), xb)
        bce_sum += bce.item() * len(xb)
        kl_sum += kl.item() * len(xb)
    n = len(x)
    return -(bce_sum + kl_sum) / n, bce_sum / n, kl_sum / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--limit", type=int, default=0, help="first N training images only (0 = all)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr = images("train-images-idx3-ubyte.gz", a.limit)
    xte = images("t10k-images-idx3-ubyte.gz", 0)
    model = Vae()
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    seconds = []
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        t0 = time.perf_counter()
        total = 0.0
        for i in range(0, len(xtr), a.batch):
            xb = xtr[perm[i:i + a.batch]]
            loss, _, _ = vae_loss(*model(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        seconds.append(time.perf_counter() - t0)
        model.eval()
        elbo, bce, kl = test_elbo(model, xte, a.seed + 2)
        print(f"epoch {epoch + 1}/{a.epochs}: train loss {total / len(xtr):.2f}  test ELBO {elbo:.2f} "
              f"(bce {bce:.2f}, kl {kl:.2f})  {seconds[-1]:.2f} s", flush=True)
    print(f"torch {torch.__version__}, {a.threads} threads: {np.mean(seconds):.2f} s per epoch (mean of {len(seconds)})")
    print(f"test ELBO: {elbo:.2f}")


if __name__ == "__main__":
    main()
