#!/usr/bin/env bash
# Stops the single-node Slurm that scripts/slurm-up.sh started in STATE_DIR (default /tmp/paved-slurm).
B=${1:-/tmp/paved-slurm}
for f in slurmrestd slurmd slurmctld slurmdbd; do
  [ -f "$B/$f.pid" ] && kill "$(cat "$B/$f.pid")" 2>/dev/null && rm -f "$B/$f.pid"
done
# munged only if slurm-up.sh started it.
if [ -f "$B/munged.ours" ] && [ -f /run/munge/munged.pid ]; then
  kill "$(cat /run/munge/munged.pid)" 2>/dev/null
  rm -f "$B/munged.ours"
fi
for _ in $(seq 30); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break; sleep 0.1; done
true
