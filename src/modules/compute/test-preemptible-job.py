"""A PyTorch training job that survives preemption: the job the preemption tests run.

It checkpoints model, optimizer and epoch to $PAVED_CHECKPOINT_DIR after every epoch and resumes
from there. On SIGTERM (Paved preempting it) it finishes the epoch it is in, checkpoints, and exits
143 within the grace period. Each epoch prints a metric line naming the attempt that ran it
(`paved.metric attempt=<n> step=<epoch>`), so a test can check that no epoch ran twice or never.
"""

import argparse
import os
import signal
import sys
import time

import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=20)
p.add_argument("--epoch-seconds", type=float, default=0.2)
args = p.parse_args()

stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)

torch.manual_seed(0)
x = torch.randn(256, 8)
y = (x.sum(dim=1, keepdim=True) > 0).float()
model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loss_fn = nn.BCEWithLogitsLoss()

ckpt_dir = os.environ.get("PAVED_CHECKPOINT_DIR", "checkpoints")
os.makedirs(ckpt_dir, exist_ok=True)
ckpt = os.path.join(ckpt_dir, "last.pt")
attempt = os.environ.get("PAVED_ATTEMPT", "1")
start = 0
if os.path.exists(ckpt):
    state = torch.load(ckpt)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    start = state["epoch"] + 1
    print(f"attempt {attempt}: resumed from the checkpoint of epoch {state['epoch']}", flush=True)
else:
    print(f"attempt {attempt}: no checkpoint, starting at epoch 0", flush=True)

for epoch in range(start, args.epochs):
    optimizer.zero_grad()
    loss = loss_fn(model(x), y)
    loss.backward()
    optimizer.step()
    time.sleep(args.epoch_seconds)
    tmp = ckpt + ".tmp"
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, tmp)
    os.replace(tmp, ckpt)
    print(f"paved.metric attempt={attempt} loss={loss.item():.5f} step={epoch}", flush=True)
    if stop:
        print(f"attempt {attempt}: SIGTERM received; checkpointed epoch {epoch}, exiting", flush=True)
        sys.exit(143)
print(f"attempt {attempt}: finished {args.epochs} epochs", flush=True)
