"""A PyTorch DDP training job (gloo backend, CPU): the job the distributed-training tests run.

Paved starts it as WORLD_SIZE processes with torchrun's rendezvous variables (MASTER_ADDR,
MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, ...); init_process_group reads them (env://). Each rank
trains on its shard of the data and DDP averages the gradients, so every rank holds the same model.
Rank 0 checkpoints model, optimizer and epoch to $PAVED_CHECKPOINT_DIR after every epoch and prints
the metric line (`paved.metric attempt=<n> loss=<l> step=<epoch>`); all ranks resume from the
checkpoint. A barrier after each checkpoint means a rank told to fail (--fail-rank, --fail-epoch,
--fail-attempt, --fail-code) fails only once the previous epoch is saved: no epoch is logged twice.
"""

import argparse
import os
import sys
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=6)
p.add_argument("--fail-rank", type=int, default=-1)
p.add_argument("--fail-epoch", type=int, default=-1)
p.add_argument("--fail-attempt", type=int, default=1)
p.add_argument("--fail-code", type=int, default=3)
p.add_argument("--epoch-seconds", type=float, default=0.0)
args = p.parse_args()

env = os.environ
rank = int(env["RANK"])
world = int(env["WORLD_SIZE"])
attempt = int(env.get("PAVED_ATTEMPT", "1"))
print(
    f"rank {rank}/{world} local_rank {env['LOCAL_RANK']}/{env['LOCAL_WORLD_SIZE']} node_rank {env['NODE_RANK']} "
    f"master {env['MASTER_ADDR']}:{env['MASTER_PORT']} cuda [{env.get('CUDA_VISIBLE_DEVICES', '')}] "
    f"token {'yes' if env.get('MLFLOW_TRACKING_TOKEN') else 'no'} run {env.get('MLFLOW_RUN_ID', '')}",
    flush=True,
)

dist.init_process_group("gloo")
# A real collective: every rank contributes its rank.
total = torch.tensor([float(rank)])
dist.all_reduce(total)
print(f"rank {rank}: all_reduce of ranks = {int(total.item())}", flush=True)

torch.manual_seed(0)
x = torch.randn(512, 8)
y = (x.sum(dim=1, keepdim=True) > 0).float()
shard_x, shard_y = x[rank::world], y[rank::world]
model = DistributedDataParallel(nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1)))
optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
loss_fn = nn.BCEWithLogitsLoss()

ckpt_dir = env.get("PAVED_CHECKPOINT_DIR", "checkpoints")
os.makedirs(ckpt_dir, exist_ok=True)
ckpt = os.path.join(ckpt_dir, "ddp.pt")
start = 0
if os.path.exists(ckpt):
    state = torch.load(ckpt)
    model.module.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    start = state["epoch"] + 1
    print(f"rank {rank} attempt {attempt}: resumed from the checkpoint of epoch {state['epoch']}", flush=True)
else:
    print(f"rank {rank} attempt {attempt}: no checkpoint, starting at epoch 0", flush=True)

for epoch in range(start, args.epochs):
    if rank == args.fail_rank and epoch == args.fail_epoch and attempt == args.fail_attempt:
        print(f"rank {rank} attempt {attempt}: failing at epoch {epoch} with code {args.fail_code}", flush=True)
        sys.exit(args.fail_code)
    optimizer.zero_grad()
    loss = loss_fn(model(shard_x), shard_y)
    loss.backward()
    optimizer.step()
    time.sleep(args.epoch_seconds)
    mean = loss.detach().clone()
    dist.all_reduce(mean)
    mean /= world
    if rank == 0:
        tmp = ckpt + ".tmp"
        torch.save({"model": model.module.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, tmp)
        os.replace(tmp, ckpt)
        print(f"paved.metric attempt={attempt} loss={mean.item():.5f} step={epoch}", flush=True)
    dist.barrier()

checksum = sum(float(t.sum()) for t in model.module.state_dict().values())
print(f"rank {rank} attempt {attempt}: finished {args.epochs} epochs; parameter checksum {checksum:.6f}", flush=True)
dist.destroy_process_group()
