"""The peer of Paved's serving: what a team writes by hand today to serve a PyTorch model.

A FastAPI app answering the Open Inference Protocol v2 infer call for the quickstart's MLP
(30 -> 16 -> 16 -> 1, sigmoid: examples/quickstart/train.py with --hidden 16; random weights,
the same computation), run by uvicorn. Debian's python3-fastapi, python3-uvicorn, python3-torch.

usage: /usr/bin/python3 -m uvicorn fastapi_server:app --app-dir bench/peer --port PORT [--workers N]
PEER_ASYNC=0 makes the endpoint a plain `def` (FastAPI runs it in its thread pool).
PEER_FORCE_NODELAY=1 works around uvicorn's --workers N leaving Nagle's algorithm on (each
keep-alive answer then waits ~40 ms for a delayed ACK; https://github.com/Kludex/uvicorn/issues/3149).
"""
import os
from typing import List, Optional

import torch
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

if os.environ.get("PEER_FORCE_NODELAY") == "1":
    import asyncio.base_events
    import socket

    def _set_nodelay(sock):
        # asyncio skips sockets whose proto is 0, which is what the supervisor's bound listener gives.
        if sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    asyncio.base_events._set_nodelay = _set_nodelay

FEATURES = 30
HIDDEN = 16

torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(FEATURES, HIDDEN), torch.nn.ReLU(),
    torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(),
    torch.nn.Linear(HIDDEN, 1), torch.nn.Sigmoid(),
)
model.eval()


class InferInput(BaseModel):
    name: str
    shape: List[int]
    datatype: str
    data: List[float]


class InferRequest(BaseModel):
    id: Optional[str] = None
    inputs: List[InferInput]


class InferOutput(BaseModel):
    name: str
    shape: List[int]
    datatype: str
    data: List[float]


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    outputs: List[InferOutput]


app = FastAPI()


def predict(name: str, request: InferRequest) -> InferResponse:
    tensor = request.inputs[0]
    if len(tensor.shape) != 2 or tensor.shape[1] != FEATURES or len(tensor.data) != tensor.shape[0] * FEATURES:
        raise HTTPException(status_code=400, detail=f"expected shape [n, {FEATURES}] with n * {FEATURES} values")
    x = torch.tensor(tensor.data, dtype=torch.float32).reshape(tensor.shape)
    with torch.no_grad():
        y = model(x)
    return InferResponse(
        model_name=name,
        model_version="1",
        id=request.id or "",
        outputs=[InferOutput(name="probability", shape=list(y.shape), datatype="FP32", data=y.flatten().tolist())],
    )


if os.environ.get("PEER_ASYNC", "1") == "1":
    @app.post("/v2/models/{name}/infer", response_model=InferResponse)
    async def infer(name: str, request: InferRequest) -> InferResponse:
        return predict(name, request)
else:
    @app.post("/v2/models/{name}/infer", response_model=InferResponse)
    def infer(name: str, request: InferRequest) -> InferResponse:
        return predict(name, request)


@app.get("/v2/health/ready")
async def ready():
    return {"ready": True}
