#!/usr/bin/env python3
"""torch_step.py -- the PyTorch side of bench/bench_step: one whole training
step (gather the batch, forward, cross-entropy, backward, Adam update) of the
same nets at the same batches, on the CPU, with a fixed thread count.

    python3 bench/torch_step.py [--threads T] [--nets LIST] [--batches LIST]
                                [--time SECONDS] [--adam auto|forloop|foreach|fused]
                                [--tsv]

It mirrors bench_step.c: a data set of exactly S * batch points
(S = max(8, 16384 // batch)), the same synthetic points (a 64-bit LCG, label 1
inside the circle r^2 < 0.5), one epoch = a fresh random permutation and S
steps, one warm-up epoch, then epochs until --time seconds are spent (at
least 3); the fastest epoch / S is the time per step.

--adam auto (the default) times each of PyTorch's Adam implementations that
this version offers (the for-loop one, foreach, fused) and reports the
fastest, so crease is compared with PyTorch at its best.  A set
OMP_WAIT_POLICY (run-step.sh also tries PASSIVE with more than one thread)
is appended to the name of the implementation, e.g. "fused+passive".
"""
import argparse
import os
import sys
import time
import warnings

warnings.filterwarnings("ignore", message=".*NumPy.*")

try:
    import torch
    from torch import nn
except ImportError:
    sys.stderr.write("torch_step.py: PyTorch is not installed (pip install torch)\n")
    sys.exit(3)


def synthetic(n):
    """The same points as bench_step.c's synthetic()."""
    s = 12345
    mask = (1 << 64) - 1
    vals = []
    for _ in range(2 * n):
        s = (s * 6364136223846793005 + 1442695040888963407) & mask
        vals.append((s >> 40) / 8388608.0 - 1.0)
    x = torch.tensor(vals, dtype=torch.float32).reshape(n, 2)
    y = ((x * x).sum(dim=1) < 0.5).long()
    return x, y


def make_model(spec):
    widths = [int(w) for w in spec.split("-")]
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def make_adam(params, impl):
    kw = {"lr": 1e-3}
    if impl == "foreach":
        kw["foreach"] = True
    elif impl == "fused":
        kw["fused"] = True
    elif impl == "forloop":
        kw["foreach"] = False
    return torch.optim.Adam(params, **kw)


def time_step(spec, batch, budget, impl):
    steps = max(8, 16384 // batch)
    n = steps * batch
    x, y = synthetic(n)
    torch.manual_seed(1)
    model = make_model(spec)
    opt = make_adam(model.parameters(), impl)
    loss_fn = nn.CrossEntropyLoss()

    def epoch():
        perm = torch.randperm(n)
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            xb = x[idx]
            yb = y[idx]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()

    epoch()  # warm-up
    best = float("inf")
    spent = 0.0
    e = 0
    while e < 3 or spent < budget:
        t0 = time.perf_counter()
        epoch()
        t = time.perf_counter() - t0
        spent += t
        best = min(best, t)
        e += 1
    return best / steps


def adam_impls():
    impls = ["forloop", "foreach"]
    try:  # fused Adam on the CPU exists from PyTorch 2.4
        p = nn.Parameter(torch.zeros(1))
        p.grad = torch.zeros(1)
        torch.optim.Adam([p], fused=True).step()
        impls.append("fused")
    except (RuntimeError, TypeError, ValueError):
        pass
    return impls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--nets", default="2-32-32-32-32-2,2-512-2")
    ap.add_argument("--batches", default="256,1024,8192")
    ap.add_argument("--time", type=float, default=1.0)
    ap.add_argument("--adam", default="auto", choices=["auto", "forloop", "foreach", "fused"])
    ap.add_argument("--tsv", action="store_true")
    a = ap.parse_args()

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    threads = torch.get_num_threads()
    impls = adam_impls() if a.adam == "auto" else [a.adam]

    if not a.tsv:
        print("PyTorch %s, %d thread(s), CPU capability %s; Adam implementations tried: %s\n"
              % (torch.__version__, threads, torch.backends.cpu.get_cpu_capability(), ", ".join(impls)))
        print("| %-16s | %6s | %7s | %10s | %12s | %-15s |" % ("net", "batch", "threads", "ms/step",
                                                                "samples/s", "adam"))
        print("|------------------|--------|---------|------------|--------------|-----------------|")
    for spec in a.nets.split(","):
        for b in a.batches.split(","):
            batch = int(b)
            results = [(time_step(spec, batch, a.time / len(impls), impl), impl) for impl in impls]
            t, impl = min(results)
            policy = os.environ.get("OMP_WAIT_POLICY", "")
            if policy:
                impl += "+" + policy.lower()
            if a.tsv:
                print("pytorch\t%s\t%d\t%d\t%.6f\t%s" % (spec, batch, threads, t * 1e3, impl))
            else:
                print("| %-16s | %6d | %7d | %10.4f | %12.0f | %-15s |" % (spec, batch, threads, t * 1e3,
                                                                            batch / t, impl))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
