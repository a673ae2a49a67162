"""Builds the evaluation tests' models and data.

usage: /usr/bin/python3 test-data.py OUT_DIR
Writes good.onnx (logistic regression on f0..f2, input `features`, output `probability`),
bad.onnx (the same with negated weights), train.csv (reference), eval.csv, shifted.csv (f0 moved
by +2.5) and skewed.csv (group B's f0 moved up, A's down), each with columns f0,f1,f2,label,group;
and a three-class model (multiclass.onnx, multiclass-logits.onnx) with multiclass.csv (quoted
fields, CRLF) and scikit-learn's figures for it (multiclass-expected.json).
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


# A three-class classifier on the same features: multiclass.onnx outputs [n, 3] probabilities
# (softmax), multiclass-logits.onnx the same model's logits. multiclass.csv holds labels 0..2
# and a quoted group column ("A, north" / "B ""south""") to exercise RFC 4180 quoting;
# multiclass-expected.json holds scikit-learn's figures for the model on it.
import json

from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

W = np.array([[2.0, -1.0, 0.0], [0.0, 2.0, -1.5], [-1.0, 0.0, 2.0]], dtype=np.float32)


def sample3(n):
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = np.argmax(x @ W + 0.3 * rng.normal(size=(n, 3)), axis=1).astype(np.int64)
    g = rng.choice(["A, north", 'B "south"'], size=n)
    return x, y, g


def quote(text):
    return '"' + text.replace('"', '""') + '"'


xm, ym, gm = sample3(600)
xv, yv, gv = sample3(400)
with open(f"{out}/multiclass.csv", "w", newline="") as f:
    f.write('f0,f1,f2,"label",group\r\n')
    for row, label, group in zip(xv, yv, gv):
        f.write(",".join(f"{v:.6f}" for v in row) + f",{label},{quote(group)}\r\n")

logits = torch.nn.Linear(3, 3)
opt = torch.optim.Adam(logits.parameters(), lr=0.05)
X3 = torch.tensor(xm)
Y3 = torch.tensor(ym)
for _ in range(300):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(logits(X3), Y3)
    loss.backward()
    opt.step()
logits.eval()
softmax = torch.nn.Sequential(logits, torch.nn.Softmax(dim=1))
export(softmax, "multiclass.onnx")
export(logits, "multiclass-logits.onnx")
with torch.no_grad():
    # Rounded as the CSV is, so the figures match what the ONNX model sees.
    p = softmax(torch.tensor(np.round(xv, 6))).numpy().astype(np.float64)
p = p / p.sum(axis=1, keepdims=True)
expected = {
    "accuracy": accuracy_score(yv, p.argmax(1)),
    "f1": f1_score(yv, p.argmax(1), average="macro"),
    "auc": roc_auc_score(yv, p, multi_class="ovr", average="macro"),
    "log_loss": log_loss(yv, p),
}
with open(f"{out}/multiclass-expected.json", "w") as f:
    json.dump(expected, f)
