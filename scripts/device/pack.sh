#!/usr/bin/env bash
# Packs what the GPU machine needs to run Paved (it has Python and PyTorch but no Node.js):
# an xz-compressed node binary, Paved bundled into one file, and the native SQLite driver.
# Output: .device/ (gitignored), carried with the device tool's `carry: [".device"]`.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .device; mkdir -p .device/node_modules
[ -f /tmp/paved-node.xz ] || xz -T2 -6 -c "$(command -v node)" > /tmp/paved-node.xz
cp /tmp/paved-node.xz .device/node.xz
npx esbuild src/cli/main.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --external:better-sqlite3 --external:pg-native --outfile=.device/paved.mjs \
  --banner:js="import { createRequire as __paved_cr } from 'module'; const require = __paved_cr(import.meta.url);"
cp src/modules/catalog/profiles.yaml .device/
for p in better-sqlite3 bindings file-uri-to-path; do cp -r "node_modules/$p" .device/node_modules/; done
rm -rf .device/node_modules/better-sqlite3/{src,deps,build/Release/obj*,build/Release/.deps,build/deps}
du -sh .device
