#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine, for tests and for trying inuprep's cluster patterns:
# munged, slurmctld and slurmd with every file (key, sockets, state, logs, pid files) under DIR.
#   tests/slurm/start-cluster.sh DIR      then: export SLURM_CONF=DIR/slurm.conf; sbatch ...
#   tests/slurm/stop-cluster.sh DIR       ends exactly the daemons this script started (by their pid files)
# Needs Debian's slurm-wlm and munge (22.05) and root (SlurmUser=root). No cgroups: proctrack/linuxproc,
# task/none. Ports: SLURM_TEST_PORT (default 16817) and the next one.
set -euo pipefail
dir=$(realpath -m "${1:?usage: start-cluster.sh DIR}")
port=${SLURM_TEST_PORT:-16817}
for tool in munged slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null || { echo "start-cluster.sh: $tool not found (apt-get install slurm-wlm munge)" >&2; exit 3; }
done
mkdir -p "$dir"/{state,spool,munge}
chmod 700 "$dir/munge"
[ -s "$dir/munge/munge.key" ] || { head -c 1024 /dev/urandom > "$dir/munge/munge.key"; chmod 400 "$dir/munge/munge.key"; }
# munged wants every folder above its socket searchable by all, which DIR's parents may not be (pytest's
# are 0700): the socket lives in a folder of its own under /tmp, which stop-cluster.sh removes
socket_dir=$(mktemp -d /tmp/inuprep-munge.XXXXXX)
chmod 755 "$socket_dir"
echo "$socket_dir" > "$dir/munge-socket-dir"
host=$(hostname -s)
cpus=$(nproc)
memory_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
cat > "$dir/slurm.conf" <<CONF
ClusterName=inuprep
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
AuthInfo=socket=$socket_dir/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
ReturnToService=2
MpiDefault=none
DefMemPerCPU=1024
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf
munged --key-file="$dir/munge/munge.key" --socket="$socket_dir/munge.socket" \
    --pid-file="$dir/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/munged.seed"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N "$host"
for _ in $(seq 60); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qx idle; then
        echo "SLURM is up: export SLURM_CONF=$SLURM_CONF"
        exit 0
    fi
    sleep 1
done
echo "start-cluster.sh: the node did not become idle within 60 s; see $dir/slurmctld.log and $dir/slurmd.log" >&2
exit 1
