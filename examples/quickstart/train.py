"""Quickstart: a small MLP that classifies the breast-cancer dataset bundled with scikit-learn.

Runs standalone (`/usr/bin/python3 train.py --epochs 5`) or as a Paved job (`paved apply -f
job.yaml`). As a job it logs params and per-epoch metrics to the run, checkpoints to
$PAVED_CHECKPOINT_DIR every epoch (kept across retry attempts, so a retried attempt resumes),
and writes model.onnx + metrics.json + eval.csv (validation split) + reference.csv (training
split) to $PAVED_OUTPUT_DIR, which become run artifacts. `--degrade` trains a model that fails the
evaluation gate; `--input-name features` one that passes it but fails every client in production.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from torch import nn

import paved_log

# Exit code the job spec lists under retry.retryOnExitCodes (EX_TEMPFAIL): "try me again".
EXIT_RETRY = 75
CHECKPOINT = "checkpoint.pt"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.005)
    p.add_argument("--hidden", type=int, default=16, help="units in each of the two hidden layers")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--fail-at-epoch", type=int, default=0,
                   help=f"exit with code {EXIT_RETRY} after checkpointing this epoch, unless resumed past it (demonstrates retry + resume)")
    p.add_argument("--degrade", nargs="?", const=True, default=False, type=lambda v: v.lower() in ("1", "true", "yes"),
                   help="train on flipped labels: a model whose accuracy falls far below the gate's 0.7 (evaluation fails it)")
    p.add_argument("--input-name", default="input",
                   help="name of the ONNX input; another name (e.g. features) passes evaluation but breaks every client that sends 'input'")
    p.add_argument("--data", default=os.environ.get("PAVED_DATASET_TRAIN") or "",
                   help="train on this CSV (or a folder holding train.csv): the 30 feature columns, then label; "
                        "a job gets a registered dataset named train in PAVED_DATASET_TRAIN. Default: the bundled breast-cancer data")
    p.add_argument("--output-dir", default=os.environ.get("PAVED_OUTPUT_DIR") or "outputs")
    p.add_argument("--checkpoint-dir", default=os.environ.get("PAVED_CHECKPOINT_DIR") or "checkpoints")
    return p.parse_args(argv)


class Classifier(nn.Module):
    """MLP on standardized features; `forward` returns logits."""

    def __init__(self, features, hidden):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )

    def forward(self, x):
        return self.net(x)


class Exported(nn.Module):
    """What model.onnx holds: raw features in, probability out (the scaler is folded in)."""

    def __init__(self, model, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, x):
        return torch.sigmoid(self.model((x - self.mean) / self.std))


def read_table(path):
    """A CSV with a header: every column but the last is a feature, the last (label) the target."""
    if os.path.isdir(path):
        path = os.path.join(path, "train.csv")
    with open(path) as f:
        header = f.readline().strip().split(",")
    rows = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
    return header[:-1], rows[:, :-1], rows[:, -1]


def load_data(seed, val_fraction, data_path=""):
    if data_path:
        feature_names, features, target = read_table(data_path)
    else:
        data = load_breast_cancer()
        feature_names, features, target = data.feature_names, data.data.astype(np.float32), data.target.astype(np.float32)
    x_train, x_val, y_train, y_val = train_test_split(
        features, target, test_size=val_fraction, random_state=seed, stratify=target)
    # Statistics from the train split only, so nothing about the validation set leaks in.
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0) + 1e-8
    return feature_names, (x_train, y_train), (x_val, y_val), mean, std


def load_checkpoint(directory, model, optimizer):
    """Restores model/optimizer state dicts; returns the last completed epoch (0 when none)."""
    path = os.path.join(directory, CHECKPOINT)
    if not os.path.exists(path):
        return 0
    # weights_only: tensors and plain containers only, never arbitrary pickled objects.
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict({"state": state["optimizer_state"], "param_groups": json.loads(state["optimizer_param_groups"])})
    return int(state["epoch"])


def save_checkpoint(directory, model, optimizer, epoch):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, CHECKPOINT)
    optimizer_state = optimizer.state_dict()
    checkpoint = {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer_state": optimizer_state["state"],
        # torch 1.13's weights-only loader refuses Python floats, so the (small) hyperparameter
        # part of the optimizer state travels as JSON text.
        "optimizer_param_groups": json.dumps(optimizer_state["param_groups"]),
    }
    # Write then rename, so a kill mid-write leaves the previous checkpoint intact.
    torch.save(checkpoint, path + ".tmp")
    os.replace(path + ".tmp", path)


def evaluate(model, x, y, loss_fn):
    model.eval()
    with torch.no_grad():
        logits = model(x).squeeze(1)
        loss = loss_fn(logits, y).item()
        prob = torch.sigmoid(logits).numpy()
    accuracy = float(((prob >= 0.5) == (y.numpy() >= 0.5)).mean())
    return loss, accuracy, float(roc_auc_score(y.numpy(), prob))


def export_onnx(model, mean, std, path, input_name="input"):
    exported = Exported(model, mean, std).eval()
    example = torch.zeros(1, len(mean), dtype=torch.float32)
    torch.onnx.export(
        exported, example, path, opset_version=13,
        input_names=[input_name], output_names=["probability"],
        dynamic_axes={input_name: {0: "batch"}, "probability": {0: "batch"}},
    )


def write_csv(path, feature_names, x, y):
    """Raw features in the model's input order, then `label`: what `paved evaluate` reads."""
    columns = [str(f).replace(" ", "_") for f in feature_names] + ["label"]
    with open(path, "w") as f:
        f.write(",".join(columns) + "\n")
        for row, label in zip(x, y):
            f.write(",".join(f"{v:.7g}" for v in row) + f",{int(label)}\n")


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    feature_names, (x_train, y_train), (x_val, y_val), mean, std = load_data(args.seed, args.val_fraction, args.data)
    xt = torch.from_numpy((x_train - mean) / std)
    # --degrade: the labels are flipped, so the model learns the opposite of the truth.
    yt = torch.from_numpy(1.0 - y_train if args.degrade else y_train)
    xv = torch.from_numpy((x_val - mean) / std)
    yv = torch.from_numpy(y_val)

    model = Classifier(xt.shape[1], args.hidden)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    done = load_checkpoint(args.checkpoint_dir, model, optimizer)
    if done:
        print(f"resuming from {os.path.join(args.checkpoint_dir, CHECKPOINT)} after epoch {done}", flush=True)
    else:
        paved_log.log_params({
            "epochs": args.epochs, "lr": args.lr, "hidden": args.hidden, "seed": args.seed,
            "batch_size": args.batch_size, "val_fraction": args.val_fraction,
            "train_rows": len(x_train), "val_rows": len(x_val), "torch_version": torch.__version__,
        })

    metrics = {}
    for epoch in range(done + 1, args.epochs + 1):
        model.train()
        # Shuffle order depends only on (seed, epoch), so a resumed run sees the same batches.
        order = torch.randperm(len(xt), generator=torch.Generator().manual_seed(args.seed * 100003 + epoch))
        total = 0.0
        for start in range(0, len(xt), args.batch_size):
            idx = order[start:start + args.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(xt[idx]).squeeze(1), yt[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        val_loss, val_accuracy, val_auc = evaluate(model, xv, yv, loss_fn)
        metrics = {"train_loss": total / len(xt), "val_loss": val_loss, "val_accuracy": val_accuracy, "val_auc": val_auc}
        paved_log.log_metrics(metrics, step=epoch)
        print(f"epoch {epoch}/{args.epochs} train_loss={metrics['train_loss']:.4f} val_loss={val_loss:.4f} "
              f"val_accuracy={val_accuracy:.4f} val_auc={val_auc:.4f}", flush=True)
        save_checkpoint(args.checkpoint_dir, model, optimizer, epoch)
        if epoch == args.fail_at_epoch:
            # Reached only by an attempt that trained this epoch itself: a resumed attempt starts later.
            print(f"simulated failure after epoch {epoch} (exit {EXIT_RETRY}); a retry resumes from the checkpoint", flush=True)
            sys.exit(EXIT_RETRY)

    if not metrics:  # resumed after the last epoch: report the checkpoint's model
        val_loss, val_accuracy, val_auc = evaluate(model, xv, yv, loss_fn)
        metrics = {"val_loss": val_loss, "val_accuracy": val_accuracy, "val_auc": val_auc}

    os.makedirs(args.output_dir, exist_ok=True)
    onnx_path = os.path.join(args.output_dir, "model.onnx")
    export_onnx(model, mean, std, onnx_path, args.input_name)
    # The validation split to evaluate the model on, the training split as drift reference.
    write_csv(os.path.join(args.output_dir, "eval.csv"), feature_names, x_val, y_val)
    write_csv(os.path.join(args.output_dir, "reference.csv"), feature_names, x_train, y_train)
    summary = {
        "epochs": args.epochs,
        "resumed_from_epoch": done,
        "final": metrics,
        "model": {
            "file": "model.onnx", "input": args.input_name, "output": "probability", "opset": 13,
            "features": [str(f) for f in feature_names], "classes": {"0": "malignant", "1": "benign"},
            "preprocessing": "standardization with train-split mean/std, folded into the graph",
        },
        "seconds": round(time.time() - started, 3),
    }
    with open(os.path.join(args.output_dir, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"wrote {onnx_path} and metrics.json; val_accuracy={metrics['val_accuracy']:.4f} val_auc={metrics['val_auc']:.4f}", flush=True)


if __name__ == "__main__":
    main()
