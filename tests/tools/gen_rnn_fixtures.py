#!/usr/bin/env python3
"""Writes tests/fixtures/rnn-expected.safetensors: PyTorch 1.13's torch.nn.LSTM
and torch.nn.GRU on several configurations, with every gradient.

Inputs, parameters, initial states and the upstream gradients are drawn in
float32 and stored as F32; PyTorch then runs in float64 on exactly those
values, and everything it computes (output, h_n, c_n and the gradient of the
input, of the initial states and of every parameter) is stored as F64. The
loss is sum(output·grad_output) + sum(h_n·grad_h_n) [+ sum(c_n·grad_c_n)], so
every element of every result matters.

Cases with lengths run as packed sequences (pack_padded_sequence with
enforce_sorted=False, then pad_packed_sequence back to the full length):
padded steps output 0 and h_n/c_n are the states after each sequence's last
real step.

Each case's configuration is a JSON object in the file's metadata under
"case.<name>"; the tensors of a case are named "<name>.<what>":
  x, lengths (I64, when packed), h0, c0 (when given), param.<torch name>,
  grad_output, grad_h_n, grad_c_n, output, h_n, c_n,
  grad.x, grad.h0, grad.c0, grad.<torch name>.
The replay tests (tests/unit/nn/lstm_test.cpp, gru_test.cpp) run every case.

    /usr/bin/python3 tests/tools/gen_rnn_fixtures.py   # Debian's python3-torch
"""
import json
import os
import struct

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "rnn-expected.safetensors")

CASES = [
    # name, cell, layers, bidirectional, bias, batch_first, initial_state, lengths
    ("lstm_2layer_bidirectional", "lstm", 2, True, True, True, False, None),
    ("lstm_2layer_bidirectional_state_packed", "lstm", 2, True, True, True, True, [4, 7, 1]),
    ("lstm_1layer_time_major_state_packed", "lstm", 1, False, True, False, True, [5, 2, 7]),
    ("lstm_3layer_no_bias_packed", "lstm", 3, False, False, True, False, [7, 3, 6]),
    ("gru_2layer_bidirectional", "gru", 2, True, True, True, False, None),
    ("gru_2layer_bidirectional_state_packed", "gru", 2, True, True, True, True, [4, 7, 1]),
    ("gru_2layer_time_major_state", "gru", 2, False, True, False, True, None),
    ("gru_1layer_bidirectional_no_bias_packed", "gru", 1, True, False, True, False, [2, 7, 5]),
]
INPUT_SIZE, HIDDEN_SIZE, BATCH, STEPS = 5, 6, 3, 7


def f32(shape, scale=1.0):
    """Uniform(-scale, scale) values that are exactly representable in float32."""
    return ((torch.rand(shape, dtype=torch.float32) * 2 - 1) * scale).to(torch.float32)


def run_case(name, cell, layers, bidirectional, bias, batch_first, initial_state, lengths):
    D = 2 if bidirectional else 1
    cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU
    module = cls(INPUT_SIZE, HIDDEN_SIZE, num_layers=layers, bias=bias, batch_first=batch_first,
                 bidirectional=bidirectional)
    params32 = {k: v.detach().to(torch.float32).clone() for k, v in module.state_dict().items()}
    module = module.double()
    with torch.no_grad():
        for k, p in module.named_parameters():
            p.copy_(params32[k].double())

    x_shape = (BATCH, STEPS, INPUT_SIZE) if batch_first else (STEPS, BATCH, INPUT_SIZE)
    out_shape = (BATCH, STEPS, D * HIDDEN_SIZE) if batch_first else (STEPS, BATCH, D * HIDDEN_SIZE)
    state_shape = (layers * D, BATCH, HIDDEN_SIZE)
    stored = {}  # name -> tensor as written
    x32 = f32(x_shape)
    stored["x"] = x32
    x = x32.double().requires_grad_(True)
    h0 = c0 = None
    if initial_state:
        stored["h0"] = f32(state_shape)
        h0 = stored["h0"].double().requires_grad_(True)
        if cell == "lstm":
            stored["c0"] = f32(state_shape)
            c0 = stored["c0"].double().requires_grad_(True)
    state = None if h0 is None else ((h0, c0) if cell == "lstm" else h0)

    if lengths is not None:
        stored["lengths"] = torch.tensor(lengths, dtype=torch.int64)
        packed = pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first, enforce_sorted=False)
        out_packed, final = module(packed, state)
        output, _ = pad_packed_sequence(out_packed, batch_first=batch_first, total_length=STEPS)
    else:
        output, final = module(x, state)
    h_n, c_n = final if cell == "lstm" else (final, None)

    stored["grad_output"] = f32(out_shape)
    stored["grad_h_n"] = f32(state_shape)
    loss = (output * stored["grad_output"].double()).sum() + (h_n * stored["grad_h_n"].double()).sum()
    if c_n is not None:
        stored["grad_c_n"] = f32(state_shape)
        loss = loss + (c_n * stored["grad_c_n"].double()).sum()
    loss.backward()

    stored["output"] = output.detach()
    stored["h_n"] = h_n.detach()
    if c_n is not None:
        stored["c_n"] = c_n.detach()
    stored["grad.x"] = x.grad
    if h0 is not None:
        stored["grad.h0"] = h0.grad
    if c0 is not None:
        stored["grad.c0"] = c0.grad
    for k, p in module.named_parameters():
        stored["param." + k] = params32[k]
        stored["grad." + k] = p.grad.detach()

    config = {"cell": cell, "input_size": INPUT_SIZE, "hidden_size": HIDDEN_SIZE, "num_layers": layers,
              "bidirectional": bidirectional, "bias": bias, "batch_first": batch_first,
              "initial_state": initial_state, "packed": lengths is not None}
    return config, {f"{name}.{k}": v.contiguous() for k, v in stored.items()}


DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}


def save_safetensors(path, tensors, metadata):
    """The safetensors layout (8-byte header length, JSON header, raw little-endian data)."""
    header = {"__metadata__": metadata}
    offset = 0
    chunks = []
    for name in sorted(tensors):
        t = tensors[name]
        data = t.numpy().tobytes() if hasattr(t, "numpy") else bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def main():
    torch.manual_seed(20240612)
    tensors, metadata = {}, {"generator": f"tests/tools/gen_rnn_fixtures.py, torch {torch.__version__}"}
    for case in CASES:
        config, case_tensors = run_case(*case)
        metadata["case." + case[0]] = json.dumps(config, sort_keys=True)
        tensors.update(case_tensors)
    save_safetensors(OUT, tensors, metadata)
    print(f"wrote {len(CASES)} cases, {len(tensors)} tensors to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
