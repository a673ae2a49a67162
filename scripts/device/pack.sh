#!/usr/bin/env bash
# Packs what the GPU machine needs to run Paved (it has Python and PyTorch but no Node.js):
# an xz-compressed node binary, Paved bundled into one file with its ONNX worker, the native
# SQLite driver and onnxruntime-node (linux x64 only, its 45 MB library xz-compressed), and for
# the serving bench (scripts/device/bench-serving.sh) the bench runner, the ceiling server and
# the bench's test models built here.
# Output: .device/ (gitignored, about 40 MB), carried with the device tool's `carry: [".device"]`.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .device; mkdir -p .device/node_modules
[ -f /tmp/paved-node.xz ] || xz -T2 -6 -c "$(command -v node)" > /tmp/paved-node.xz
cp /tmp/paved-node.xz .device/node.xz
# The bundles are ES modules whose dependencies may still call require().
bundle() {
  npx esbuild "$1" --bundle --platform=node --format=esm --target=node20 --log-level=warning \
    --external:better-sqlite3 --external:pg-native --external:onnxruntime-node --outfile="$2" \
    --banner:js="import { createRequire as __paved_cr } from 'module'; const require = __paved_cr(import.meta.url);"
}
bundle src/cli/main.ts .device/paved.mjs
# onnx-runtime.ts, bundled into paved.mjs, starts its workers from ./onnx-worker.js beside it.
bundle src/modules/serving/onnx-worker.ts .device/onnx-worker.js
# The evaluation runner reads CSVs on a thread started the same way, from ./table-worker.js.
bundle src/modules/evaluation/table-worker.ts .device/table-worker.js
# Registration and every serving load read the ONNX model first on ./onnx-inspect-worker.js.
bundle src/modules/registry/onnx-inspect-worker.ts .device/onnx-inspect-worker.js
bundle src/core/column-drift-worker.ts .device/column-drift-worker.js
bundle bench/run.ts .device/bench.mjs
bundle bench/onnx-http-server.ts .device/onnx-http-server.mjs
bundle bench/load-client.ts .device/load-client.mjs
echo '{ "type": "module" }' > .device/package.json
# Files that the bundled code reads beside itself (new URL("./…", import.meta.url) in src/).
cp src/modules/catalog/{profiles.yaml,gate-policy.default.yaml} src/modules/compute/executors/spawner-process.js .device/
# test-models.ts looks for the script beside the bench bundle (only to hash it, once the models
# are in place: bench-serving.sh copies the ones built here into its cache folder).
cp src/modules/serving/test-models.py .device/
mkdir .device/serving-models && /usr/bin/python3 src/modules/serving/test-models.py .device/serving-models
for p in better-sqlite3 bindings file-uri-to-path; do cp -r "node_modules/$p" .device/node_modules/; done
rm -rf .device/node_modules/better-sqlite3/{src,deps,build/Release/obj*,build/Release/.deps,build/deps,build/Release/test_extension.node,build/Release/sqlite3.a}
ORT=.device/node_modules/onnxruntime-node; ORT_BIN=bin/napi-v6/linux/x64
mkdir -p "$ORT/$ORT_BIN" .device/node_modules/onnxruntime-common
cp -r node_modules/onnxruntime-node/{package.json,dist} "$ORT/"
cp "node_modules/onnxruntime-node/$ORT_BIN/onnxruntime_binding.node" "$ORT/$ORT_BIN/"
LIB_XZ=/tmp/paved-libonnxruntime-$(node -p 'require("./node_modules/onnxruntime-node/package.json").version').xz
[ -f "$LIB_XZ" ] || xz -T2 -6 -c "node_modules/onnxruntime-node/$ORT_BIN/libonnxruntime.so.1" > "$LIB_XZ"
cp "$LIB_XZ" .device/libonnxruntime.so.1.xz
cp -r node_modules/onnxruntime-common/{package.json,dist} .device/node_modules/onnxruntime-common/
du -sh .device
