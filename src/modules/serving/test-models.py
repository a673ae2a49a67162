"""Builds the small ONNX models the serving tests and bench use, with torch's own outputs.

usage: /usr/bin/python3 test-models.py OUT_DIR
Writes tiny.onnx and tiny-v2.onnx (Linear 4->2 + softmax, dynamic batch), fixed.onnx (fixed
[2,3] input -> row sums), mlp.onnx (30 -> 16 -> 16 -> 1 sigmoid, dynamic batch), slow.onnx (a
[batch, 1] input spread over a 32x160x160 image and twelve 3x3 convolutions: tens of ms per row on
one core, with a request of a few bytes) and expected.json (inputs and torch outputs for each).
"""
import json
import sys

import torch

out = sys.argv[1]
torch.manual_seed(7)


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x):
        return torch.softmax(self.linear(x), dim=1)


class Slow(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.convs = torch.nn.Sequential(*[torch.nn.Conv2d(32, 32, 3, padding=1) for _ in range(12)])

    def forward(self, x):
        image = x.reshape(-1, 1, 1, 1).expand(-1, 32, 160, 160)
        return self.convs(image).mean(dim=(1, 2, 3)).reshape(-1, 1)


class Fixed(torch.nn.Module):
    def forward(self, x):
        return x.sum(dim=1)


def mlp():
    return torch.nn.Sequential(
        torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1), torch.nn.Sigmoid()
    )


def export(model, example, path, input_name, output_name, dynamic):
    model.eval()
    axes = {input_name: {0: "batch"}, output_name: {0: "batch"}} if dynamic else None
    torch.onnx.export(model, example, f"{out}/{path}", input_names=[input_name], output_names=[output_name], dynamic_axes=axes, opset_version=13)


expected = {}
for name in ["tiny", "tiny-v2"]:
    model = Tiny()
    x = torch.randn(40, 4)
    export(model, x[:1], f"{name}.onnx", "input", "probabilities", True)
    with torch.no_grad():
        expected[name] = {"input": x.tolist(), "probabilities": model(x).tolist()}

fixed = Fixed()
x = torch.randn(2, 3)
export(fixed, x, "fixed.onnx", "x", "y", False)
expected["fixed"] = {"x": x.tolist(), "y": fixed(x).tolist()}

slow = Slow()
x = torch.randn(2, 1)
export(slow, x[:1], "slow.onnx", "x", "y", True)
with torch.no_grad():
    expected["slow"] = {"x": x.tolist(), "y": slow(x).tolist()}

model = mlp()
x = torch.randn(8, 30)
export(model, x[:1], "mlp.onnx", "features", "probability", True)
with torch.no_grad():
    expected["mlp"] = {"features": x.tolist(), "probability": model(x).tolist()}

with open(f"{out}/expected.json", "w") as f:
    json.dump(expected, f)
