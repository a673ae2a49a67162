#!/usr/bin/env bash
# Serving bench on the device machine (16 cores, no Node.js), run from the repository root with
# .device/ carried along (built by scripts/device/pack.sh): unpacks node and onnxruntime's library,
# puts the bench's test models where test-models.ts looks for them, and runs `bench serving` at
# full scale once per replica count, then `bench dataplane-scale` with BENCH_PROCESSES data-plane
# processes (default 4: with 2 client processes each, 12 of the 16 cores busy). Results land in
# $OUT: serving-rN.txt (the output) and serving-rN.json (bench/results/serving.json of that run),
# dataplane-scale.txt and .json.
#   BENCH_REPLICAS_LIST="1 4"  replica counts, one run each   BENCH_SCALE=0.1  a tenth of the work
set -uo pipefail
OUT=${OUT:-/tmp/paved-device-out}; mkdir -p "$OUT"
D=$PWD/.device
[ -f "$D/bench.mjs" ] || { echo "no .device/bench.mjs: run scripts/device/pack.sh here and carry .device" >&2; exit 2; }
unxz() { python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" "$1" "$2"; }
[ -x "$D/node" ] || { unxz "$D/node.xz" "$D/node.tmp" && chmod +x "$D/node.tmp" && mv "$D/node.tmp" "$D/node"; } || exit 1
LIB=$D/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
[ -f "$LIB" ] || { unxz "$D/libonnxruntime.so.1.xz" "$LIB.tmp" && mv "$LIB.tmp" "$LIB"; } || exit 1
export PATH=$D:$PATH
# test-models.ts builds the models once per machine into <tmpdir>/paved-serving-models-<hash of
# the script>; the ones pack.sh built go there, or else this machine's python3 (with torch) builds them.
MODELS=$(python3 -c "import hashlib,os,sys; print(os.path.join(os.environ.get('TMPDIR') or '/tmp', 'paved-serving-models-' + hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest()[:12]))" "$D/test-models.py")
if [ ! -f "$MODELS/expected.json" ]; then
  if [ -f "$D/serving-models/expected.json" ]; then cp -r "$D/serving-models" "$MODELS"
  else mkdir -p "$MODELS" && python3 "$D/test-models.py" "$MODELS" || exit 1; fi
fi
echo "node: $(command -v node) $(node -v); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); models: $MODELS"
status=0
for R in ${BENCH_REPLICAS_LIST:-1 4}; do
  rm -f bench/results/serving.json
  BENCH_REPLICAS=$R timeout 280 node "$D/bench.mjs" serving 2>&1 | tee "$OUT/serving-r$R.txt"
  rc=${PIPESTATUS[0]}; [ "$rc" -eq 0 ] || { echo "bench serving with $R replicas exited with $rc" >&2; status=1; }
  [ -f bench/results/serving.json ] && cp bench/results/serving.json "$OUT/serving-r$R.json"
done
rm -f bench/results/dataplane-scale.json
BENCH_PROCESSES=${BENCH_PROCESSES:-4} timeout 200 node "$D/bench.mjs" dataplane-scale 2>&1 | tee "$OUT/dataplane-scale.txt"
rc=${PIPESTATUS[0]}; [ "$rc" -eq 0 ] || { echo "bench dataplane-scale exited with $rc" >&2; status=1; }
[ -f bench/results/dataplane-scale.json ] && cp bench/results/dataplane-scale.json "$OUT/dataplane-scale.json"
exit $status
