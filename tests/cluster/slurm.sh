#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the cluster tests (tests/test_slurm_cluster.py) and for trying
# `hydra/launcher=slurm` by hand:
#
#   tests/cluster/slurm.sh up       install what is missing (Debian: slurmctld slurmd slurm-client slurmdbd munge
#                                   mariadb-server), then start munged, MariaDB, slurmdbd, slurmctld and slurmd with
#                                   one CPU partition `cpu`; idempotent (what already runs is left alone)
#   tests/cluster/slurm.sh down     stop what `up` started (by the pid files it wrote), nothing else
#   tests/cluster/slurm.sh status   say whether it is up; exit 0 only if it is
#
# Everything lives in $ADALORA_CLUSTER_DIR (default /var/lib/adalora-test-cluster): configs, spool, logs, the
# database. Nothing under /etc is written and no system service is started or stopped; SLURM and MariaDB listen on
# their own ports (16817-16820), so a machine's own SLURM or MariaDB is not disturbed. munged serves the standard
# socket (/run/munge/munge.socket.2; a munged already there is used and left alone). Client commands need the config:
#   export SLURM_CONF=/var/lib/adalora-test-cluster/etc/slurm.conf
# Accounting (slurmdbd + MariaDB) is on, so `sacct` answers and submitit reads job states from it.
set -euo pipefail

STATE=${ADALORA_CLUSTER_DIR:-/var/lib/adalora-test-cluster}
ETC=$STATE/etc LOG=$STATE/log RUN=$STATE/run
CLUSTER=adalora-test
PORT_CTLD=${ADALORA_CLUSTER_PORT_BASE:-16817}
PORT_SLURMD=$((PORT_CTLD + 1)) PORT_DBD=$((PORT_CTLD + 2)) PORT_DB=$((PORT_CTLD + 3))
PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server mariadb-client)
export SLURM_CONF=$ETC/slurm.conf

say() { echo "cluster: $*"; }
die() { echo "cluster: error: $*" >&2; exit 1; }

alive() {  # alive PIDFILE NAME: the pid in PIDFILE runs a process whose command is NAME
    local pid
    [ -s "$1" ] || return 1
    pid=$(cat "$1" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$2" ]
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...: retry COMMAND until it succeeds
    local limit=$1 what=$2 start=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        [ $((SECONDS - start)) -lt "$limit" ] || die "$what did not come up within ${limit}s (logs: $LOG)"
        sleep 0.5
    done
}

install_packages() {
    local missing=()
    for cmd in slurmctld slurmd sbatch sacct slurmdbd munged mariadbd mariadb-install-db; do
        command -v "$cmd" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: run as root (it installs ${PACKAGES[*]} with apt-get)"
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get: install SLURM, munge and MariaDB"
    say "installing ${PACKAGES[*]} (missing: ${missing[*]})"
    local policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e $policy ]; then  # the packages must not start their system services: we start our own
        printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && made_policy=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    local ok=1
    apt-get update -qq >"$LOG/apt.log" 2>&1 &&
        apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >>"$LOG/apt.log" 2>&1 || ok=
    [ -z "$made_policy" ] || rm -f $policy
    [ -n "$ok" ] || die "apt-get install ${PACKAGES[*]} failed: see $LOG/apt.log"
}

write_configs() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    [ "$cpus" -ge 2 ] || cpus=2  # the 2-task DDP test needs two; the node's real CPUs are shared anyway
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
    mkdir -p "$ETC" "$LOG" "$RUN" "$STATE/spool/ctld" "$STATE/spool/d" "$STATE/munge"
    chmod 0700 "$STATE/munge"
    cat >"$ETC/slurm.conf.new" <<EOF
# Written by tests/cluster/slurm.sh: a single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT_CTLD
SlurmdPort=$PORT_SLURMD
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
# cred_expire: how long a requeued job waits before it may start again (120 s by default)
AuthInfo=cred_expire=5
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=2,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmdParameters=config_overrides
InactiveLimit=0
KillWait=30
MinJobAge=300
JobRequeue=1
# a requeued job appends to its log files, so one log tells the whole story of a preempted run
JobFileAppend=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$PORT_DBD
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=cpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    if cmp -s "$ETC/slurm.conf.new" "$ETC/slurm.conf"; then
        rm "$ETC/slurm.conf.new"
    else
        mv "$ETC/slurm.conf.new" "$ETC/slurm.conf"
        CONFIG_CHANGED=1
    fi
    (
        umask 077
        cat >"$ETC/slurmdbd.conf" <<EOF
# Written by tests/cluster/slurm.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$PORT_DBD
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$PORT_DB
StorageUser=slurm
StoragePass=slurm-test-cluster
StorageLoc=slurm_acct_db
EOF
    )
}

MUNGE_SOCKET=/run/munge/munge.socket.2  # where SLURM's clients look for munged (AuthInfo=socket= is not used by all)

start_munge() {
    alive "$RUN/munged.pid" munged && return 0
    if [ -S $MUNGE_SOCKET ] && munge -n -S $MUNGE_SOCKET 2>/dev/null | unmunge -S $MUNGE_SOCKET >/dev/null 2>&1; then
        say "munged: using the one already running on $MUNGE_SOCKET (not ours: down leaves it)"
        return 0
    fi
    [ -s "$STATE/munge/munge.key" ] || (umask 077 && dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none)
    mkdir -p "$(dirname $MUNGE_SOCKET)"
    munged --key-file="$STATE/munge/munge.key" --socket=$MUNGE_SOCKET \
        --pid-file="$RUN/munged.pid" --log-file="$LOG/munged.log" --seed-file="$STATE/munge/munged.seed" \
        --force >>"$LOG/munged.log" 2>&1 || die "munged did not start: see $LOG/munged.log"
    wait_for 20 munged alive "$RUN/munged.pid" munged
    say "munged started"
}

sql() { mariadb --no-defaults --socket="$STATE/mysql.sock" -uroot "$@"; }

start_mariadb() {
    if ! alive "$RUN/mariadbd.pid" mariadbd; then
        if [ ! -d "$STATE/mysql/mysql" ]; then
            mariadb-install-db --no-defaults --datadir="$STATE/mysql" --user=root --skip-test-db \
                --auth-root-authentication-method=socket >"$LOG/mariadb-install.log" 2>&1 ||
                die "mariadb-install-db failed: see $LOG/mariadb-install.log"
        fi
        (setsid mariadbd --no-defaults --datadir="$STATE/mysql" --socket="$STATE/mysql.sock" --port=$PORT_DB \
            --bind-address=127.0.0.1 --pid-file="$RUN/mariadbd.pid" --user=root --log-error="$LOG/mariadb.log" \
            --innodb-buffer-pool-size=32M --skip-name-resolve </dev/null >/dev/null 2>&1 &)
        wait_for 60 MariaDB sql -e "select 1"
        wait_for 10 MariaDB alive "$RUN/mariadbd.pid" mariadbd
        say "MariaDB started"
    fi
    sql -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm-test-cluster';
            GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" || die "could not create the slurm database user"
}

start_slurmdbd() {
    if ! alive "$RUN/slurmdbd.pid" slurmdbd; then
        slurmdbd >>"$LOG/slurmdbd.log" 2>&1 || die "slurmdbd did not start: see $LOG/slurmdbd.log"
        wait_for 60 slurmdbd sacctmgr -n show cluster
        say "slurmdbd started"
    fi
    sacctmgr -n -P show cluster format=cluster | grep -qx "$CLUSTER" || sacctmgr -i add cluster "$CLUSTER" >/dev/null
}

start_slurm() {
    if ! alive "$RUN/slurmctld.pid" slurmctld; then
        slurmctld >>"$LOG/slurmctld.log" 2>&1 || die "slurmctld did not start: see $LOG/slurmctld.log"
        wait_for 60 slurmctld scontrol ping
        STARTED_CTLD=1
        say "slurmctld started"
        # jobs a cluster stopped without `down` left in its saved state (a test cluster keeps none): cancel them
        # before slurmd comes up, so none is requeued and run again; job ids go on from where they were
        local left
        left=$(squeue -h -o %i | tr '\n' ' ')
        if [ -n "${left// /}" ]; then
            scancel $left 2>/dev/null || true
            say "cancelled jobs left by an earlier run of this cluster: $left"
        fi
    fi
    if [ -n "${CONFIG_CHANGED:-}" ] && [ -z "${STARTED_CTLD:-}" ]; then
        scontrol reconfigure && say "slurm.conf changed: slurmctld and slurmd reconfigured"
    fi
    if ! alive "$RUN/slurmd.pid" slurmd; then
        slurmd >>"$LOG/slurmd.log" 2>&1 || die "slurmd did not start: see $LOG/slurmd.log"
        say "slurmd started"
    fi
    wait_for 60 "the node" node_ready
}

node_ready() { sinfo -h -p cpu -o %t | grep -Eq '^(idle|mix|alloc)'; }

up() {
    local start=$SECONDS
    mkdir -p "$LOG"
    install_packages
    PATH=$PATH:/usr/sbin:/sbin
    write_configs
    start_munge
    start_mariadb
    start_slurmdbd
    start_slurm
    wait_for 30 sacct sacct -n -X -S now
    say "up in $((SECONDS - start)) s: partition cpu, $(sinfo -h -p cpu -o '%c CPUs, %m MB'); accounting on"
    say "export SLURM_CONF=$SLURM_CONF"
}

stop() {  # stop PIDFILE NAME
    alive "$1" "$2" || { rm -f "$1"; return 0; }
    local pid
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
        alive "$1" "$2" || break
        sleep 0.5
    done
    if alive "$1" "$2"; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$1"
    say "$2 stopped"
}

down() {
    PATH=$PATH:/usr/sbin:/sbin
    if alive "$RUN/slurmctld.pid" slurmctld; then
        scancel --full --quiet --cluster="$CLUSTER" -u "$(id -un)" 2>/dev/null || true  # jobs of this test cluster
    fi
    stop "$RUN/slurmd.pid" slurmd
    stop "$RUN/slurmctld.pid" slurmctld
    stop "$RUN/slurmdbd.pid" slurmdbd
    stop "$RUN/mariadbd.pid" mariadbd
    stop "$RUN/munged.pid" munged
    say "down (state and logs kept in $STATE)"
}

status() {
    PATH=$PATH:/usr/sbin:/sbin
    local bad=0
    for d in munged mariadbd slurmdbd slurmctld slurmd; do
        if alive "$RUN/$d.pid" "$d"; then echo "$d: running (pid $(cat "$RUN/$d.pid"))"; else echo "$d: not running"; bad=1; fi
    done
    [ $bad = 0 ] && node_ready && sacct -n -X -S now >/dev/null 2>&1 || return 1
    sinfo -p cpu
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
