#!/usr/bin/env bash
# A single-node Slurm on localhost, for the `sweep submit` integration test.
#
#   scripts/slurm-local.sh install   apt-get the Debian packages when missing (root only)
#   scripts/slurm-local.sh start     start munged (if not running), slurmctld and slurmd;
#                                    prints SLURM_CONF=<path> on stdout when the node is idle
#   scripts/slurm-local.sh stop      stop the daemons this script started, by PID
#
# State lives in $SLURM_LOCAL_DIR (default /tmp/sweep-slurm): slurm.conf, spool,
# logs and PID files. PID 1 is not systemd on CI machines, so the daemons are
# started here and stopped by their PID files. Idempotent: `start` on a running
# cluster only prints its SLURM_CONF; `stop` on a stopped one does nothing.
set -euo pipefail

DIR=${SLURM_LOCAL_DIR:-/tmp/sweep-slurm}
CONF=$DIR/slurm.conf
PACKAGES=(slurmctld slurmd slurm-client munge)

log() { echo "slurm-local: $*" >&2; }

have_slurm() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; }

install() {
    if have_slurm; then return 0; fi
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "Slurm is not installed and this is not root on a Debian-like system: cannot install ${PACKAGES[*]}"
        return 1
    fi
    log "installing ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q "${PACKAGES[@]}" >&2
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

munge_ok() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
    if munge_ok; then return 0; fi
    if [ ! -s /etc/munge/munge.key ]; then
        if [ -x /usr/sbin/mungekey ]; then /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key
        else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; fi
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    # munged refuses to run as root; its own user owns the key and socket.
    rm -f /run/munge/munged.pid
    runuser -u munge -- /usr/sbin/munged >&2
    # Recorded as ours only once it answers, so `stop` never kills a system munged.
    for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
    munge_ok || { log "munged did not start"; return 1; }
    cp /run/munge/munged.pid "$DIR/munged.pid"
}

write_conf() {
    local cpus mem
    cpus=$(nproc)
    # RealMemory in MB, a little under the total so slurmd accepts the node.
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
    cat >"$CONF" <<CONF
ClusterName=sweeplocal
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerParameters=sched_interval=1
MinJobAge=300
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
    have_slurm || { log "Slurm is not installed (scripts/slurm-local.sh install, as root)"; return 1; }
    mkdir -p "$DIR"
    export SLURM_CONF=$CONF
    if alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid"; then
        echo "SLURM_CONF=$CONF"
        return 0
    fi
    write_conf
    start_munge
    # -c: start from a clean state, never with jobs left by an earlier run.
    alive "$DIR/slurmctld.pid" || slurmctld -c -f "$CONF" >&2
    alive "$DIR/slurmd.pid" || slurmd -f "$CONF" -N localhost >&2
    # Ready when the node is idle (the controller has heard from slurmd).
    for _ in $(seq 120); do
        state=$(sinfo -h -N -n localhost -o %t 2>/dev/null || true)
        case $state in
            idle*) echo "SLURM_CONF=$CONF"; return 0 ;;
            down*|drain*) scontrol update NodeName=localhost State=RESUME >/dev/null 2>&1 || true ;;
        esac
        sleep 0.5
    done
    log "the node did not become idle within 60 s; logs in $DIR/log"
    tail -n 20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" >&2 || true
    return 1
}

stop_pid() {
    local f=$1
    alive "$f" || { rm -f "$f"; return 0; }
    local pid
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
}

stop() {
    stop_pid "$DIR/slurmd.pid"
    stop_pid "$DIR/slurmctld.pid"
    stop_pid "$DIR/munged.pid"
}

case ${1:-} in
    install) install ;;
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
