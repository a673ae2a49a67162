#!/usr/bin/env bash
# GPU check, run on the device machine from the repository root with .device/ carried along:
# Paved discovers the GPUs with nvidia-smi, runs a PyTorch job pinned with CUDA_VISIBLE_DEVICES,
# and records GPU telemetry as system metrics. Results land in $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/paved-device-out}; mkdir -p "$OUT"
D=$PWD/.device
python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('$D/node.xz'), open('$D/node','wb'))" && chmod +x "$D/node"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu --format=csv,noheader,nounits > "$OUT/query-gpu.csv" 2>&1
TOKEN=pvd_device-check-token-0123456789
DATA=$(mktemp -d)
printf 'logLevel: info\ncompute:\n  systemMetricsInterval: 1\n' > "$DATA/config.yaml"
PAVED_ADMIN_TOKEN=$TOKEN "$D/node" "$D/paved.mjs" up --port 18080 --data-dir "$DATA/d" --config "$DATA/config.yaml" > "$OUT/server.log" 2>&1 &
SERVER=$!
for i in $(seq 1 100); do curl -sf http://127.0.0.1:18080/api/v1/health >/dev/null && break; sleep 0.2; done
api() { curl -s -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' "$@"; }
api http://127.0.0.1:18080/api/v1/compute/resources > "$OUT/resources.json"
WORK=$(mktemp -d); cp scripts/device/gpu-job.py "$WORK/"
JOB=$(api -X POST http://127.0.0.1:18080/api/v1/jobs -d "{\"name\":\"gpu-check\",\"command\":[\"python3\",\"gpu-job.py\"],\"workingDir\":\"$WORK\",\"compute\":{\"gpus\":1,\"cpus\":1,\"memory\":\"2Gi\"}}")
echo "$JOB" > "$OUT/submitted.json"
ID=$(echo "$JOB" | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
for i in $(seq 1 120); do
  PHASE=$(api "http://127.0.0.1:18080/api/v1/jobs/$ID" | python3 -c "import json,sys; print(json.load(sys.stdin)['phase'])")
  case $PHASE in SUCCEEDED|FAILED|CANCELLED) break;; esac; sleep 0.5
done
api "http://127.0.0.1:18080/api/v1/jobs/$ID" > "$OUT/job.json"
api "http://127.0.0.1:18080/api/v1/jobs/$ID/logs" > "$OUT/job.log"
RUN=$(python3 -c "import json; print(json.load(open('$OUT/job.json'))['runId'])")
api "http://127.0.0.1:18080/api/v1/runs/$RUN" > "$OUT/run.json"
api "http://127.0.0.1:18080/api/v1/runs/$RUN/metrics/system%2Fgpu_0_utilization_percentage" > "$OUT/gpu-util-history.json"
kill $SERVER; wait $SERVER 2>/dev/null
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
job = json.load(open(out + "/job.json")); run = json.load(open(out + "/run.json"))
res = json.load(open(out + "/resources.json"))
print("resources.gpus:", [(g.get("index"), g.get("name")) for g in res.get("gpus", [])])
print("job:", job["phase"], "exit", job.get("exitCode"), "allocation", job.get("allocation"))
print("log:", open(out + "/job.log").read().splitlines()[:2])
print("system metrics:", sorted(k for k in run["metrics"] if k.startswith("system/")))
hist = json.load(open(out + "/gpu-util-history.json")).get("history", [])
print("gpu_0 utilization samples:", [h["value"] for h in hist])
PY
