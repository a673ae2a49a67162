#!/usr/bin/env bash
# Installs what Paved's tests and quickstart need from Debian and npm. Idempotent: skips what is present.
#   scripts/install-deps.sh            # everything: PostgreSQL, Chromium, Jupyter, Slurm, Prometheus, PyTorch, scikit-learn, npm packages
#   scripts/install-deps.sh --runtime  # only what the quickstart needs (no PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."
want=(python3-torch python3-sklearn)
# chromium: the single sign-on browser test (playwright-core drives Debian's build; it downloads none).
# jupyter-notebook: workspaces (the tests start real Jupyter servers and kernels through the proxy).
# slurm-wlm: the Slurm executor's tests start a real single-node Slurm (scripts/slurm-up.sh).
# systemd: systemd-analyze checks the unit in deploy/systemd (systemd itself need not run).
# prometheus: a real Prometheus scrapes paved up, and promtool lints /metrics (test/prometheus.test.ts).
# snakemake: the peer of `npm run bench -- pipelines` (the same 1,000-task DAG on both).
[ "${1:-}" = "--runtime" ] || want+=(postgresql-15 chromium jupyter-notebook slurm-wlm systemd prometheus snakemake)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages"
  # onnxruntime-node's install script only downloads GPU binaries, which cannot be fetched here.
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund --loglevel=error
fi
