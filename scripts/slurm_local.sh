#!/usr/bin/env bash
# A single-node Slurm cluster with accounting, for testing `grade-all --executor slurm`
# against a real slurmctld (`nox -s slurm`). Debian, as root; nothing else of the kit runs it.
#
#   scripts/slurm_local.sh start    install (apt) what is missing, write the configs, start
#                                   munge, MariaDB, slurmdbd, slurmctld and slurmd, and wait
#                                   until `sinfo` shows the node idle
#   scripts/slurm_local.sh stop     stop every daemon it started (the packages stay)
#   scripts/slurm_local.sh check    exit 0 if a cluster answers, else say why (exit 3)
#
# Both start and stop are idempotent. The configuration is the smallest that grades a class:
# one node (`hostname -s` at 127.0.0.1) with this machine's CPUs and 90% of its memory, one
# partition `debug`, no cgroups (proctrack/linuxproc, task/none), accounting through
# slurmdbd into MariaDB, so that `sacct` reports jobs that were cancelled or killed.
set -euo pipefail

PARTITION=debug
CLUSTER=lenet
CONF=/etc/slurm
LOGS=/var/log/slurm
STATE=/var/lib/slurm
DB_PASS=lenet-slurm-test  # a local test database on 127.0.0.1 only

say() { echo "slurm_local: $*" >&2; }
die() { say "$*"; exit 3; }

why_not() {  # prints why this machine cannot run the cluster, or nothing
    if [ "$(id -u)" != 0 ]; then
        echo "not root (the daemons and apt-get need root; run: sudo $0 start)"
    elif [ ! -f /etc/debian_version ] || ! command -v apt-get >/dev/null; then
        echo "not a Debian machine (this script installs Debian's slurm-wlm with apt-get)"
    fi
}

node_state() { sinfo -h -N -o %t 2>/dev/null | head -1; }

install() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurm-wlm)
    command -v slurmdbd >/dev/null || missing+=(slurmdbd)
    command -v munged >/dev/null || missing+=(munge)
    command -v mariadbd >/dev/null || missing+=(mariadb-server)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
    [ -s /etc/munge/munge.key ] || mungekey --create --force
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.2; done
    die "munged did not start"
}

start_mariadb() {
    if ! mysqladmin ping >/dev/null 2>&1; then
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
        setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
            --log-error=/var/log/mysql/error.log </dev/null >/dev/null 2>&1 &
        for _ in $(seq 100); do mysqladmin ping >/dev/null 2>&1 && break; sleep 0.2; done
        mysqladmin ping >/dev/null 2>&1 || die "MariaDB did not start: see /var/log/mysql/error.log"
    fi
    mysql -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
        CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
        GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
}

write_configs() {
    local host mem cpus
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
    mkdir -p "$CONF" "$LOGS" "$STATE/slurmctld" "$STATE/slurmd"
    chown slurm:slurm "$LOGS" "$STATE" "$STATE/slurmctld"
    cat >"$CONF/slurm.conf" <<EOF
# Written by scripts/slurm_local.sh: a single-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
EnforcePartLimits=ALL
ReturnToService=2
KillWait=5
MinJobAge=300
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$CONF/slurmdbd.conf" <<EOF
# Written by scripts/slurm_local.sh: accounting for the single-node test cluster.
DbdHost=localhost
SlurmUser=slurm
AuthType=auth/munge
LogFile=$LOGS/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
    chown slurm:slurm "$CONF/slurmdbd.conf" && chmod 600 "$CONF/slurmdbd.conf"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_slurm() {
    if ! alive /run/slurmdbd.pid; then slurmdbd; fi
    for _ in $(seq 100); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
    sacctmgr -n list cluster >/dev/null 2>&1 || die "slurmdbd did not answer: see $LOGS/slurmdbd.log"
    if [ -z "$(sacctmgr -n -P list cluster "$CLUSTER" format=cluster)" ]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    alive /run/slurmctld.pid || slurmctld
    alive /run/slurmd.pid || slurmd
    for _ in $(seq 150); do
        case "$(node_state)" in idle | mix | alloc) break ;; esac
        sleep 0.2
    done
    case "$(node_state)" in
        idle | mix | alloc) ;;
        *) die "the node is not idle (sinfo: $(node_state)): see $LOGS/slurmctld.log and slurmd.log" ;;
    esac
}

stop_pidfile() {  # stop_pidfile FILE: TERM the daemon, wait for it to go
    alive "$1" || return 0
    local pid
    pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
    start)
        reason=$(why_not)
        [ -z "$reason" ] || die "cannot start a Slurm cluster here: $reason"
        t0=$(date +%s%N)
        install
        t1=$(date +%s%N)
        start_munge
        start_mariadb
        write_configs
        start_slurm
        t2=$(date +%s%N)
        say "node $(hostname -s) $(node_state); install $(((t1 - t0) / 1000000)) ms," \
            "start $(((t2 - t1) / 1000000)) ms"
        sinfo -s
        ;;
    stop)
        [ "$(id -u)" = 0 ] || die "not root"
        stop_pidfile /run/slurmd.pid
        stop_pidfile /run/slurmctld.pid
        stop_pidfile /run/slurmdbd.pid
        if command -v mysqladmin >/dev/null && mysqladmin ping >/dev/null 2>&1; then
            mysqladmin shutdown
        fi
        stop_pidfile /run/munge/munged.pid
        say "stopped"
        ;;
    check)
        if [ -n "$(node_state)" ] && sacct -n -X -S now >/dev/null 2>&1; then
            say "a cluster answers: node $(node_state)"
            exit 0
        fi
        reason=$(why_not)
        die "no Slurm cluster answers (sinfo, sacct)${reason:+; one cannot start here: $reason}${reason:-; start one with: $0 start}"
        ;;
    *)
        echo "usage: $0 start|stop|check" >&2
        exit 2
        ;;
esac
