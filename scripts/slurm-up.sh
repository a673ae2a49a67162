#!/usr/bin/env bash
# A single-node Slurm (Debian slurm-wlm 22.05) on this machine, for the scheduling bench and the
# Slurm executor's tests. Needs root (munge, mknod). Adapted from the project's recipe notes.
#   scripts/slurm-up.sh [STATE_DIR]       prints `export SLURM_CONF=...` (and a JWT with WITH_REST=1)
#   scripts/slurm-down.sh [STATE_DIR]     stops what this script started
# Options (environment): FAKE_GPUS=N (default 4; character devices, so --gres=gpu:N sets
# CUDA_VISIBLE_DEVICES), WITH_REST=1 (slurmrestd with JWT on 127.0.0.1:6820), WITH_DBD=1
# (slurmdbd; needs MariaDB on 127.0.0.1:${DB_PORT:-13306}, user slurm/slurmpw),
# SCHEDULER_PARAMETERS=... (slurm.conf SchedulerParameters, e.g. batch_sched_delay=0: by default
# Slurm may defer scheduling an sbatch job by up to 3 s), GPU_TYPE=NAME (typed GRES gpu:NAME:N),
# CPUS=N (the node's CPUs; more than the machine has is allowed, for tests of many small jobs),
# CTLD_PORT / SLURMD_PORT (default 6817 / 6818: several clusters may run side by side).
# Partitions: debug (default, PriorityTier 1) and urgent (PriorityTier 2), on the one node: a job
# in urgent preempts (cancels, after GraceTime=${GRACE_TIME:-5} s of SIGTERM) jobs in debug.
set -euo pipefail
B=${1:-/tmp/paved-slurm}
FAKE_GPUS=${FAKE_GPUS:-4}
command -v slurmctld >/dev/null || { echo "slurm-up: slurmctld not found; install with: apt-get install -y slurm-wlm" >&2; exit 3; }
[ "$(id -u)" = 0 ] || { echo "slurm-up: must run as root (munge, device nodes, SlurmUser=root)" >&2; exit 3; }
# Always a fresh state: some configuration changes only take effect on a clean start.
"$(dirname "$0")/slurm-down.sh" "$B" >/dev/null 2>&1 || true
rm -rf "$B/state" "$B/spool" "$B/log"
mkdir -p "$B"/{state,spool,log,fakedev,jobs}
chmod 755 "$B"
gres_line=""
if [ "$FAKE_GPUS" -gt 0 ]; then
  # GPUs without hardware must be character devices, else Slurm sets no CUDA_VISIBLE_DEVICES.
  for i in $(seq 0 $((FAKE_GPUS - 1))); do [ -c "$B/fakedev/nvidia$i" ] || mknod "$B/fakedev/nvidia$i" c 195 "$i"; done
  gres_line="Gres=gpu:${GPU_TYPE:+$GPU_TYPE:}$FAKE_GPUS"
  echo "NodeName=localhost Name=gpu ${GPU_TYPE:+Type=$GPU_TYPE }File=$B/fakedev/nvidia[0-$((FAKE_GPUS - 1))]" > "$B/gres.conf"
else
  : > "$B/gres.conf"
fi
[ -f "$B/jwt_hs256.key" ] || { dd if=/dev/urandom of="$B/jwt_hs256.key" bs=32 count=1 2>/dev/null; chmod 600 "$B/jwt_hs256.key"; }
memory=$(( $(free -m | awk '/^Mem:/{print $2}') - 1024 ))
cat > "$B/slurm.conf" <<CONF
ClusterName=paved
SlurmctldHost=localhost
SlurmctldPort=${CTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$B/jwt_hs256.key
StateSaveLocation=$B/state
SlurmdSpoolDir=$B/spool
SlurmctldPidFile=$B/slurmctld.pid
SlurmdPidFile=$B/slurmd.pid
SlurmctldLogFile=$B/log/slurmctld.log
SlurmdLogFile=$B/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
$( if [ -n "${WITH_DBD:-}" ]; then printf 'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=localhost\nAccountingStoragePort=6819\n'; else echo "AccountingStorageType=accounting_storage/none"; fi )
JobCompType=jobcomp/filetxt
JobCompLoc=$B/log/jobcomp.log
SchedulerType=sched/backfill
$( [ -n "${SCHEDULER_PARAMETERS:-}" ] && echo "SchedulerParameters=$SCHEDULER_PARAMETERS" )
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, each job takes all memory and jobs run one at a time.
DefMemPerCPU=256
ReturnToService=2
MinJobAge=300
MaxJobCount=100000
GresTypes=gpu
$( [ -n "${CPUS:-}" ] && echo "SlurmdParameters=config_overrides" )
PreemptType=preempt/partition_prio
PreemptMode=CANCEL
NodeName=localhost NodeAddr=127.0.0.1 CPUs=${CPUS:-$(nproc)} RealMemory=$memory $gres_line State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=${GRACE_TIME:-5}
PartitionName=urgent Nodes=localhost MaxTime=INFINITE State=UP PriorityTier=2
CONF
export SLURM_CONF=$B/slurm.conf
# munge: Debian's package created /etc/munge/munge.key. Check it works with a round trip, not
# pgrep (dead daemons linger as defunct); remember whether we started it, so down stops only ours.
mkdir -p /run/munge && chown munge:munge /run/munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged
  touch "$B/munged.ours"
fi
for _ in $(seq 50); do munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
if [ -n "${WITH_DBD:-}" ]; then
  cat > "$B/slurmdbd.conf" <<DBD
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$B/jwt_hs256.key
DbdHost=localhost
DbdPort=6819
SlurmUser=root
LogFile=$B/log/slurmdbd.log
PidFile=$B/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=${DB_PORT:-13306}
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
DBD
  chmod 600 "$B/slurmdbd.conf"
  SLURM_CONF=$B/slurm.conf slurmdbd -f "$B/slurmdbd.conf"
  for _ in $(seq 100); do sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 0.2; done
  sacctmgr -i add cluster paved >/dev/null || true
fi
slurmctld            # daemonizes; pid in $B/slurmctld.pid
slurmd -N localhost  # the hostname is not 'localhost', so -N is required
for _ in $(seq 100); do sinfo -h -o %t 2>/dev/null | grep -qx idle && break; sleep 0.2; done
sinfo -h -o %t | grep -qx idle || { echo "slurm-up: node not idle" >&2; tail -n 20 "$B"/log/*.log >&2; exit 1; }
if [ -n "${WITH_REST:-}" ]; then
  # slurmrestd refuses root; -s avoids the plugins that need slurmdbd.
  SLURM_JWT=daemon nohup slurmrestd -a rest_auth/jwt -s openapi/v0.0.38 -u nobody -g nogroup 127.0.0.1:6820 >"$B/log/slurmrestd.log" 2>&1 &
  echo $! > "$B/slurmrestd.pid"
  for _ in $(seq 50); do curl -s -o /dev/null 127.0.0.1:6820 && break; sleep 0.1; done
fi
echo "export SLURM_CONF=$B/slurm.conf"
if [ -n "${WITH_REST:-}" ]; then scontrol token username=root lifespan=86400 | sed 's/^/export /'; fi
