"""Native reference for bench/bench.ts: one Adam training step of ferlab's
baseline or deep model (fixed yardsticks), or experiment 03's lean or 05's VGG, in
PyTorch (CPU), on random 48x48 inputs.

    /usr/bin/python3 bench/torch_step.py --model baseline --threads 2 --batch 64 --steps 10

Prints one JSON object with trainImagesPerSec. The architectures mirror
lib/models/baseline.ts and lib/models/deep.ts (DEFAULT_DEEP, DEEP_ARCHITECTURES.lean,
BUDGET_VGG: 3x3 "same" convs without bias before BatchNorm, 2x2 max-pooling, dropout,
dense or global-average-pooling head).
"""
import argparse
import json
import time

import torch
from torch import nn


def baseline():
    layers, cin = [], 1
    for f, p in zip([32, 64, 128, 128], [0.1, 0.2, 0.3, 0.4]):
        layers += [nn.Conv2d(cin, f, 3, padding=1, bias=False), nn.BatchNorm2d(f), nn.ReLU(), nn.MaxPool2d(2),
                   nn.Dropout(p)]
        cin = f
    layers += [nn.Flatten(), nn.Linear(128 * 3 * 3, 256, bias=False), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(256, 7)]
    return nn.Sequential(*layers)


def deep():
    layers, cin = [], 1
    for f, n, p in zip([64, 128, 256, 512, 512], [2, 2, 1, 1, 1], [0.1, 0.2, 0.25, 0.3, 0.4]):
        for _ in range(n):
            layers += [nn.Conv2d(cin, f, 3, padding=1, bias=False), nn.BatchNorm2d(f), nn.LeakyReLU(0.1)]
            cin = f
        layers += [nn.MaxPool2d(2), nn.Dropout(p)]
    layers += [nn.Flatten(), nn.Linear(512, 512, bias=False), nn.BatchNorm1d(512), nn.LeakyReLU(0.1), nn.Dropout(0.5),
               nn.Linear(512, 7)]
    return nn.Sequential(*layers)


def lean():
    """Experiment 03's `lean`: 5 blocks of conv → BN → LeakyReLU → max-pool → dropout, GAP, dense 512 head."""
    layers, cin = [], 1
    for f, p in zip([32, 64, 128, 256, 512], [0.1, 0.2, 0.25, 0.3, 0.4]):
        layers += [nn.Conv2d(cin, f, 3, padding=1, bias=False), nn.BatchNorm2d(f), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
                   nn.Dropout(p)]
        cin = f
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 512), nn.LeakyReLU(0.1), nn.BatchNorm1d(512),
               nn.Dropout(0.5), nn.Linear(512, 7)]
    return nn.Sequential(*layers)


def vgg():
    """Experiment 05's VGG: 4 stages of 2 × (conv → BN → ReLU), max-pool; GAP → dropout 0.4 → linear."""
    layers, cin = [], 1
    for f in [32, 64, 128, 256]:
        for _ in range(2):
            layers += [nn.Conv2d(cin, f, 3, padding=1, bias=False), nn.BatchNorm2d(f), nn.ReLU()]
            cin = f
        layers += [nn.MaxPool2d(2)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.4), nn.Linear(256, 7)]
    return nn.Sequential(*layers)


MODELS = {"baseline": baseline, "deep": deep, "lean": lean, "vgg": vgg}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="baseline", choices=list(MODELS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--max-seconds", type=float, default=60)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = MODELS[a.model]()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.rand(a.batch, 1, 48, 48)
    y = torch.arange(a.batch) % 7
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(2):  # warm-up: oneDNN primitive creation
        step()
    t0 = time.perf_counter()
    done = 0
    while done < a.steps and time.perf_counter() - t0 < a.max_seconds:
        step()
        done += 1
    ms = (time.perf_counter() - t0) * 1000 / done
    print(json.dumps({
        "ok": True,
        "model": a.model,
        "batch": a.batch,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "stepMs": ms,
        "stepsTimed": done,
        "trainImagesPerSec": a.batch * 1000 / ms,
    }))


if __name__ == "__main__":
    main()
