#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for tests/test_slurm.py (and for trying
# `ramen launch --backend slurm` on a laptop-sized box).
#
#   bash scripts/slurm-local.sh start   # install slurm-wlm + munge if missing, start daemons
#   bash scripts/slurm-local.sh stop    # stop the daemons this script started
#
# Needs root (apt-get, /etc/slurm, /etc/munge). Prints one line saying why when it cannot;
# exits 3 then, so a test can skip with that reason. The slurm.conf is the one recorded in
# ENVIRONMENT.md (Debian 12, Slurm 22.05).
set -euo pipefail

STATE=/var/run/ramen-slurm
cmd="${1:-start}"

cannot() { echo "cannot start a local SLURM: $*" >&2; exit 3; }

start() {
  [ "$(id -u)" = 0 ] || cannot "needs root (it installs packages and writes /etc/slurm)"
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || cannot "no apt-get to install slurm-wlm and munge"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      slurm-wlm munge >/tmp/ramen-slurm-apt.log 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install \
             -y -q --no-install-recommends slurm-wlm munge >/tmp/ramen-slurm-apt.log 2>&1; } \
      || cannot "apt-get install slurm-wlm munge failed (see /tmp/ramen-slurm-apt.log)"
  fi
  if [ -f "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null \
     && sinfo -h >/dev/null 2>&1; then
    echo "local SLURM already running"; return 0
  fi
  mkdir -p "$STATE" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /etc/slurm /run/munge
  host="$(hostname)"
  cpus="$(nproc --all)"   # the machine's CPUs, whatever this process is pinned to
  mem_mb="$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))"

  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown munge:munge /etc/munge/munge.key /run/munge 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
  if ! pgrep -x munged >/dev/null; then
    su -s /bin/sh munge -c "munged" 2>/dev/null || munged --force || cannot "munged did not start"
  fi

  cat > /etc/slurm/slurm.conf <<EOF
ClusterName=ci
SlurmctldHost=${host}
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SlurmUser=root
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=${STATE}/slurmctld.pid
SlurmdPidFile=${STATE}/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
MinJobAge=3600
NodeName=${host} CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
  slurmctld || cannot "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
  slurmd || cannot "slurmd did not start (see /var/log/slurm/slurmd.log)"
  for _ in $(seq 1 60); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "local SLURM up: node ${host}, ${cpus} CPUs, ${mem_mb} MB"; return 0
    fi
    sleep 1
  done
  cannot "the node did not become idle in 60 s ($(sinfo -h 2>&1 | head -n 1))"
}

stop() {
  for d in slurmd slurmctld; do
    if [ -f "$STATE/$d.pid" ]; then
      kill "$(cat "$STATE/$d.pid")" 2>/dev/null || true
      rm -f "$STATE/$d.pid"
    fi
  done
  echo "local SLURM stopped"
}

case "$cmd" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
