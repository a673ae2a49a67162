# A short GPU job for the device check: reports what it sees and keeps the GPU busy a few seconds.
import os
import time

import torch

print("CUDA_VISIBLE_DEVICES=%r" % os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
print("torch.cuda.device_count()=%d" % torch.cuda.device_count(), flush=True)
x = torch.randn(8192, 8192, device="cuda")
start = time.time()
steps = 0
while time.time() - start < 8:
    x = (x @ x).clamp_(-1, 1)
    torch.cuda.synchronize()
    steps += 1
    print("paved.metric matmuls=%d step=%d" % (steps, steps), flush=True)
