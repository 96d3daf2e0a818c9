#!/usr/bin/env python3
"""Writes tests/fixtures/losses-expected.json: inputs, outputs and gradients of
the losses in src/kiln/ops/losses.h as PyTorch 1.13 computes them in float64.

Each case names a function (kiln's name), its tensors, its options, the
upstream gradient fed to backward (so every element of a 'none' reduction
matters) and the gradient of every input that requires grad. The replay test
(tests/unit/ops/losses_test.cpp) runs every case it finds.

    /usr/bin/python3 tests/tools/make_loss_fixtures.py   # Debian's python3-torch
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(20240611)
torch.set_default_dtype(torch.float64)

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "losses-expected.json")
REDUCTIONS = ["none", "sum", "mean"]


def enc(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def enc_int(t):
    return {"shape": list(t.shape), "data": [int(v) for v in t.reshape(-1).tolist()]}


def run(name, fn, tensors, grad_inputs, options, reference):
    """tensors: name -> tensor (float ones listed in grad_inputs require grad)."""
    leaves = {}
    for key, t in tensors.items():
        if t is None:
            continue
        leaf = t.clone().detach()
        if key in grad_inputs:
            leaf.requires_grad_(True)
        leaves[key] = leaf
    out = reference(leaves)
    upstream = torch.randn(out.shape)
    (out * upstream).sum().backward()
    case = {
        "name": name,
        "fn": fn,
        "options": options,
        "inputs": {k: (enc(v) if v.is_floating_point() else enc_int(v)) for k, v in leaves.items()},
        "output": enc(out),
        "upstream": enc(upstream),
        "grads": {k: enc(leaves[k].grad) for k in grad_inputs},
    }
    return case


def main():
    cases = []

    # ---- regression -----------------------------------------------------------
    x, t = torch.randn(4, 3) * 2, torch.randn(4, 3) * 2
    x[0, 0] = t[0, 0]  # d = 0: sign(0) = 0 in l1's gradient
    for r in REDUCTIONS:
        cases.append(run(f"l1_{r}", "l1_loss", {"input": x, "target": t}, ["input", "target"],
                         {"reduction": r}, lambda v, r=r: F.l1_loss(v["input"], v["target"], reduction=r)))
        for beta in (1.0, 0.5, 0.0):
            # With beta = 0 and d = 0 exactly, torch 1.13's gradient is -1 (its `x <= -beta`
            # branch); kiln gives l1's 0 there, so that case runs without the tie.
            xs = x if beta > 0 else x + torch.eye(4, 3) * 0.25
            cases.append(run(f"smooth_l1_beta{beta}_{r}", "smooth_l1_loss", {"input": xs, "target": t},
                             ["input", "target"], {"reduction": r, "beta": beta},
                             lambda v, r=r, beta=beta: F.smooth_l1_loss(v["input"], v["target"], reduction=r,
                                                                        beta=beta)))
        for delta in (1.0, 0.3):
            cases.append(run(f"huber_delta{delta}_{r}", "huber_loss", {"input": x, "target": t},
                             ["input", "target"], {"reduction": r, "delta": delta},
                             lambda v, r=r, delta=delta: F.huber_loss(v["input"], v["target"], reduction=r,
                                                                      delta=delta)))

    # ---- binary cross-entropy on probabilities ----------------------------------
    p = torch.rand(5, 3) * 0.98 + 0.01
    tb = torch.rand(5, 3)  # soft targets are allowed
    wb = torch.rand(3) + 0.5
    for r in REDUCTIONS:
        cases.append(run(f"bce_{r}", "binary_cross_entropy", {"input": p, "target": tb}, ["input", "target"],
                         {"reduction": r},
                         lambda v, r=r: F.binary_cross_entropy(v["input"], v["target"], reduction=r)))
        cases.append(run(f"bce_weight_{r}", "binary_cross_entropy", {"input": p, "target": tb, "weight": wb},
                         ["input", "target"], {"reduction": r},
                         lambda v, r=r: F.binary_cross_entropy(v["input"], v["target"], weight=v["weight"],
                                                               reduction=r)))
    # Probabilities of exactly 0 and 1: torch clamps the logs at -100. The
    # target's gradient is left out (torch's -logit(p) is infinite there).
    pc = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5])
    tc = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0])
    cases.append(run("bce_clamped_logs", "binary_cross_entropy", {"input": pc, "target": tc}, ["input"],
                     {"reduction": "none"}, lambda v: F.binary_cross_entropy(v["input"], v["target"], reduction="none")))

    # ---- binary cross-entropy with logits, weight and pos_weight -----------------------
    z = torch.randn(6, 4) * 3
    z[0, 0], z[1, 1] = 60.0, -60.0  # far tails stay finite
    tz = (torch.rand(6, 4) > 0.5).double()
    tz[2] = torch.rand(4)  # a row of soft targets
    wz = torch.rand(6, 1) + 0.5  # per-sample weights
    pw = torch.tensor([1.0, 3.0, 0.5, 2.0])
    for r in REDUCTIONS:
        cases.append(run(f"bce_logits_pos_weight_{r}", "binary_cross_entropy_with_logits",
                         {"input": z, "target": tz, "pos_weight": pw}, ["input", "target"], {"reduction": r},
                         lambda v, r=r: F.binary_cross_entropy_with_logits(v["input"], v["target"],
                                                                           pos_weight=v["pos_weight"], reduction=r)))
        cases.append(run(f"bce_logits_weight_pos_weight_{r}", "binary_cross_entropy_with_logits",
                         {"input": z, "target": tz, "weight": wz, "pos_weight": pw}, ["input", "target"],
                         {"reduction": r},
                         lambda v, r=r: F.binary_cross_entropy_with_logits(
                             v["input"], v["target"], weight=v["weight"], pos_weight=v["pos_weight"], reduction=r)))

    # ---- cross-entropy: class indices with weights --------------------------------------
    logits = torch.randn(6, 5) * 2
    idx = torch.tensor([0, 4, 2, -100, 4, 1])
    wc = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5])
    for r in REDUCTIONS:
        for eps in (0.0, 0.2):
            cases.append(run(f"ce_index_weight_eps{eps}_{r}", "cross_entropy",
                             {"input": logits, "target": idx, "weight": wc}, ["input"],
                             {"reduction": r, "label_smoothing": eps, "ignore_index": -100},
                             lambda v, r=r, eps=eps: F.cross_entropy(v["input"], v["target"], weight=v["weight"],
                                                                     reduction=r, label_smoothing=eps)))
    # Spatial [N, C, H, W] with ignore_index = 3 (a valid class number, here ignored).
    logits4 = torch.randn(2, 4, 3, 2)
    idx4 = torch.randint(0, 4, (2, 3, 2))
    w4 = torch.tensor([0.5, 1.0, 2.0, 1.5])
    for r in REDUCTIONS:
        cases.append(run(f"ce_spatial_index_weight_{r}", "cross_entropy", {"input": logits4, "target": idx4, "weight": w4},
                         ["input"], {"reduction": r, "label_smoothing": 0.1, "ignore_index": 3},
                         lambda v, r=r: F.cross_entropy(v["input"], v["target"], weight=v["weight"], reduction=r,
                                                        label_smoothing=0.1, ignore_index=3)))
    cases.append(run("ce_index_no_weight_options", "cross_entropy", {"input": logits, "target": idx}, ["input"],
                     {"reduction": "mean", "label_smoothing": 0.1, "ignore_index": -100},
                     lambda v: F.cross_entropy(v["input"], v["target"], label_smoothing=0.1)))

    # ---- cross-entropy: probability targets -------------------------------------------------
    probs = torch.softmax(torch.randn(6, 5), dim=1)
    probs[1] = F.one_hot(torch.tensor(3), 5).double()  # a one-hot row
    for r in REDUCTIONS:
        for eps in (0.0, 0.15):
            cases.append(run(f"ce_probs_eps{eps}_{r}", "cross_entropy", {"input": logits, "target": probs},
                             ["input", "target"], {"reduction": r, "label_smoothing": eps},
                             lambda v, r=r, eps=eps: F.cross_entropy(v["input"], v["target"], reduction=r,
                                                                     label_smoothing=eps)))
        cases.append(run(f"ce_probs_weight_{r}", "cross_entropy", {"input": logits, "target": probs, "weight": wc},
                         ["input", "target"], {"reduction": r, "label_smoothing": 0.1},
                         lambda v, r=r: F.cross_entropy(v["input"], v["target"], weight=v["weight"], reduction=r,
                                                        label_smoothing=0.1)))
    probs4 = torch.softmax(torch.randn(2, 4, 3, 2), dim=1)
    for r in REDUCTIONS:
        cases.append(run(f"ce_spatial_probs_{r}", "cross_entropy", {"input": logits4, "target": probs4},
                         ["input", "target"], {"reduction": r, "label_smoothing": 0.0},
                         lambda v, r=r: F.cross_entropy(v["input"], v["target"], reduction=r)))
    probs1 = torch.softmax(torch.randn(5), dim=0)
    cases.append(run("ce_single_row_probs", "cross_entropy", {"input": torch.randn(5), "target": probs1},
                     ["input", "target"], {"reduction": "mean", "label_smoothing": 0.0},
                     lambda v: F.cross_entropy(v["input"], v["target"])))

    # ---- Gaussian KL against N(0, 1): the formula, per sample, then reduced ---------------------
    def kl(v, r):
        per = -0.5 * (1 + v["log_var"] - v["mean"] ** 2 - v["log_var"].exp()).flatten(1).sum(1)
        return {"none": per, "sum": per.sum(), "mean": per.mean()}[r]

    mu, lv = torch.randn(4, 3, 2), torch.randn(4, 3, 2)
    for r in REDUCTIONS:
        cases.append(run(f"kl_normal_standard_{r}", "kl_normal_standard", {"mean": mu, "log_var": lv},
                         ["mean", "log_var"], {"reduction": r}, lambda v, r=r: kl(v, r)))

    with open(OUT, "w") as f:
        json.dump({"torch": torch.__version__, "dtype": "float64",
                   "notes": "grads are d/d input of sum(output * upstream); see tests/tools/make_loss_fixtures.py",
                   "cases": cases}, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
