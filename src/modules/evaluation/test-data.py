"""Builds the evaluation tests' models and data.

usage: /usr/bin/python3 test-data.py OUT_DIR
Writes good.onnx (logistic regression on f0..f2, input `features`, output `probability`),
bad.onnx (the same with negated weights), train.csv (reference), eval.csv, shifted.csv (f0 moved
by +2.5) and skewed.csv (group B's f0 moved up, A's down), each with columns f0,f1,f2,label,group.
"""
import sys

import numpy as np
import torch

out = sys.argv[1]
rng = np.random.default_rng(0)
torch.manual_seed(0)


def sample(n):
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] - 0.3 * x[:, 2] + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    g = rng.choice(["A", "B"], size=n)
    return x, y, g


def write(name, x, y, g):
    with open(f"{out}/{name}", "w") as f:
        f.write("f0,f1,f2,label,group\n")
        for row, label, group in zip(x, y, g):
            f.write(",".join(f"{v:.6f}" for v in row) + f",{label},{group}\n")


xt, yt, gt = sample(600)
write("train.csv", xt, yt, gt)
xe, ye, ge = sample(400)
write("eval.csv", xe, ye, ge)
shifted = xe.copy()
shifted[:, 0] += 2.5
write("shifted.csv", shifted, ye, ge)
skewed = xe.copy()
skewed[:, 0] += np.where(ge == "B", 1.5, -1.5)
write("skewed.csv", skewed, ye, ge)

model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Sigmoid())
opt = torch.optim.Adam(model.parameters(), lr=0.05)
X = torch.tensor(xt)
Y = torch.tensor(yt, dtype=torch.float32).unsqueeze(1)
for _ in range(300):
    opt.zero_grad()
    loss = torch.nn.functional.binary_cross_entropy(model(X), Y)
    loss.backward()
    opt.step()


def export(m, path):
    m.eval()
    torch.onnx.export(m, (X[:1],), f"{out}/{path}", input_names=["features"], output_names=["probability"], dynamic_axes={"features": {0: "batch"}, "probability": {0: "batch"}}, opset_version=13)


export(model, "good.onnx")
with torch.no_grad():
    model[0].weight.neg_()
    model[0].bias.neg_()
export(model, "bad.onnx")
