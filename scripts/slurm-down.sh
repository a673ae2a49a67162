#!/usr/bin/env bash
# Stops the single-node Slurm that scripts/slurm-up.sh started in STATE_DIR (default /tmp/paved-slurm).
# KEEP_MUNGE=1 leaves munged running even if slurm-up.sh started it.
B=${1:-/tmp/paved-slurm}
pids=()
for f in slurmrestd slurmd slurmctld slurmdbd; do
  if [ -f "$B/$f.pid" ]; then
    pid=$(cat "$B/$f.pid")
    kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$B/$f.pid"
  fi
done
# munged only if slurm-up.sh started it, and not with KEEP_MUNGE=1 (other clusters may use it:
# tests run several side by side).
if [ -z "${KEEP_MUNGE:-}" ] && [ -f "$B/munged.ours" ] && [ -f /run/munge/munged.pid ]; then
  kill "$(cat /run/munge/munged.pid)" 2>/dev/null
  rm -f "$B/munged.ours"
fi
# Wait for this cluster's daemons only (others may run beside it on other ports).
for _ in $(seq 50); do
  alive=0
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
true
