#!/usr/bin/env bash
# A throw-away one-node SLURM cluster on localhost, for the integration test (tests/slurm/test_slurm_profile.py).
#
#   cluster.sh start DIR   install slurm-wlm/munge if missing (apt-get), write DIR/slurm.conf for this machine's
#                          CPUs and memory, start munged, slurmctld and slurmd with all state under DIR, and wait
#                          until the node accepts jobs. Clients find the cluster with SLURM_CONF=DIR/slurm.conf.
#   cluster.sh stop DIR    stop the daemons started by `start DIR` (by their pid files) and nothing else.
#
# State is private to DIR (own munge socket and key, non-default ports), so a system munge is not disturbed. One
# thing is shared: /etc/slurm/slurm.conf becomes a link to DIR/slurm.conf while the cluster runs, because the
# plugin's job step drops SLURM_CONF from the environment of the `srun` it calls inside each job. `start` refuses to
# replace a slurm.conf it did not create. Needs root: slurmd launches jobs, munged owns its key, /etc is written.
set -euo pipefail

DAEMONS=(slurmd slurmctld munged) # stop order: reverse of start order
DEFAULT_CONF=/etc/slurm/slurm.conf
MARK="# written by tests/slurm/cluster.sh"

stop() {
    local dir=$1 name pid
    for name in "${DAEMONS[@]}"; do
        [[ -f $dir/$name.pid ]] || continue
        pid=$(<"$dir/$name.pid")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        rm -f "$dir/$name.pid"
    done
    if [[ $(readlink "$DEFAULT_CONF") == "$dir/slurm.conf" ]]; then
        rm -f "$DEFAULT_CONF"
    fi
}

link_default_conf() {
    local dir=$1
    # a link left by a killed run (dangling, or to another run's file) may be replaced; anything else is the site's
    if [[ -e $DEFAULT_CONF || -L $DEFAULT_CONF ]]; then
        if [[ ! -L $DEFAULT_CONF ]] || { [[ -e $DEFAULT_CONF ]] && ! grep -qxF "$MARK" "$DEFAULT_CONF"; }; then
            echo "cluster.sh: $DEFAULT_CONF exists and was not written by this script; remove or move it first" >&2
            return 1
        fi
    fi
    mkdir -p "$(dirname "$DEFAULT_CONF")"
    ln -sfn "$dir/slurm.conf" "$DEFAULT_CONF"
}

install_if_missing() {
    local missing=()
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    ((${#missing[@]})) || return 0
    echo "installing ${missing[*]} (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

write_conf() {
    local dir=$1 host cpus mem_mb
    host=$(hostname -s)
    cpus=$(nproc)
    # leave a little memory to the system so that slurmd does not drain the node for having less than configured
    mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.95)}' /proc/meminfo)
    cat >"$dir/slurm.conf" <<CONF
$MARK
ClusterName=snakemake-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/slurmd
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# No slurmdbd: finished jobs stay visible to squeue/sacct for MinJobAge seconds, and every finished job is
# recorded in the job completion file (the test's job records).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/linux
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
MinJobAge=600
# GPU requests (sbatch --gpus=N) are served by one GPU slot per CPU, each a null device node (slurmd drops GPUs
# without a device file): jobs that ask for a GPU are scheduled as on a GPU cluster and compute on their CPUs.
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    local i
    for ((i = 0; i < cpus; i++)); do
        mknod "$dir/gpu$i" c 1 3 # the major/minor numbers of /dev/null
    done
    echo "NodeName=$host Name=gpu File=$dir/gpu[0-$((cpus - 1))]" >"$dir/gres.conf"
}

start() {
    local dir=$1
    if ((EUID != 0)); then
        echo "cluster.sh: needs root (slurmd launches jobs, munged owns its key)" >&2
        return 77
    fi
    install_if_missing
    mkdir -p "$dir/ctld" "$dir/slurmd"
    chmod 700 "$dir"
    dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge.key"
    write_conf "$dir"
    link_default_conf "$dir"
    export SLURM_CONF=$dir/slurm.conf
    trap 'stop "$dir"; tail -n 20 "$dir"/*.log >&2 || true' ERR
    munged --force --socket="$dir/munge.socket" --key-file="$dir/munge.key" --pid-file="$dir/munged.pid" \
        --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"
    slurmctld -i
    slurmd -N "$(hostname -s)"
    local deadline=$((SECONDS + 60)) name
    while ((SECONDS < deadline)); do
        for name in "${DAEMONS[@]}"; do
            if [[ -f $dir/$name.pid ]] && ! kill -0 "$(<"$dir/$name.pid")" 2>/dev/null; then
                echo "cluster.sh: $name exited" >&2
                false
            fi
        done
        if timeout 5 sinfo --noheader --responding --states=idle --format=%n 2>/dev/null | grep -q .; then
            trap - ERR
            return 0
        fi
        sleep 0.5
    done
    echo "cluster.sh: the node did not become idle within 60 s" >&2
    false
}

case ${1:-} in
start | stop) "$1" "${2:?usage: cluster.sh start|stop DIR}" ;;
*)
    echo "usage: cluster.sh start|stop DIR" >&2
    exit 2
    ;;
esac
