#!/usr/bin/python3
"""PyTorch side of bench/rnn_bench.cpp: the same shapes (batch 64, 28 steps, 28
inputs, hidden 128, last hidden state out), forward + sum + backward, and
inference alone. Prints the median milliseconds per step over --reps runs.

    /usr/bin/python3 bench/torch_rnn_bench.py [--threads 2] [--reps 200]   # Debian's python3-torch
"""
import argparse
import statistics
import time

import torch

B, T, IN, H = 64, 28, 28, 128


def median_ms(fn, reps):
    for _ in range(10):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def train_step(rnn, x):
    def step():
        rnn.zero_grad(set_to_none=True)
        out, _ = rnn(x)
        last = torch.cat([out[:, -1, :H], out[:, 0, H:]], 1) if rnn.bidirectional else out[:, -1]
        last.sum().backward()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=200)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    x = torch.rand(B, T, IN)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    cases = [("lstm row train step", torch.nn.LSTM(IN, H, batch_first=True)),
             ("gru row train step", torch.nn.GRU(IN, H, batch_first=True)),
             ("lstm 2-layer bidirectional train step", torch.nn.LSTM(IN, H, 2, batch_first=True, bidirectional=True))]
    for name, rnn in cases:
        print(f"{name}: {median_ms(train_step(rnn, x), a.reps):.3f} ms")
    lstm = torch.nn.LSTM(IN, H, batch_first=True).eval()
    with torch.no_grad():
        print(f"lstm row inference: {median_ms(lambda: lstm(x), a.reps):.3f} ms")


if __name__ == "__main__":
    main()
