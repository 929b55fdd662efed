#!/usr/bin/env bash
# A single-node Slurm cluster on this machine for the Slurm executor's tests (test/slurm.test.ts,
# docs/cluster.md): munged, MariaDB + slurmdbd (so sacct works, as on real clusters), slurmctld and slurmd,
# every file, socket and port of it private to DIR. Nothing under /etc is read or written.
#
#   test/helpers/slurm.sh install      apt-get install the Debian packages below, if any is missing
#   test/helpers/slurm.sh up DIR       configure and start; prints KEY=VALUE lines: SLURM_CONF, PARTITION,
#                                      SHORT_PARTITION (MaxTime 1 minute, for the time-limit test), NODE, CPUS
#   test/helpers/slurm.sh down DIR     cancel its jobs, stop its daemons (only the ones it started)
#
# Needs root: slurmd starts jobs as their owner. The node offers 2 CPUs (select/cons_tres, CR_CPU_Memory)
# and 8 GB; processes are tracked by proctrack/linuxproc because containers rarely allow cgroups.
set -euo pipefail
PATH="$PATH:/usr/sbin" # the daemons, for users whose PATH lacks it

packages=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server-core)
binaries=(slurmctld slurmd sbatch srun squeue sacct sacctmgr scancel slurmdbd munged mungekey mariadbd)
daemons=(slurmd slurmctld slurmdbd mariadbd munged) # stop order

say() { printf '[slurm] %s\n' "$*" >&2; }
# The first of the needed programs that is not installed.
missing() { for b in "${binaries[@]}"; do command -v "$b" >/dev/null 2>&1 || { echo "$b"; return; }; done; }

install() {
  local gone
  gone=$(missing)
  if [ -z "$gone" ]; then
    say "Slurm, munge and MariaDB present: $(slurmctld -V)"
    return
  fi
  say "installing Slurm for the Slurm executor tests (apt-get install ${packages[*]}; $gone was missing)"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  # --no-install-recommends: slurm-wlm's recommended plugins (HDF5, RRD, IPMI, ROCm…) are not needed. The
  # packages' own services stay stopped where policy-rc.d forbids starting them (containers) and are never used.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
  say "installed: $(slurmctld -V)"
}

# A TCP port nobody listens on (checked by connecting; the daemons bind it moments later).
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  echo "no free TCP port found" >&2
  return 1
}

# Waits up to $1 seconds for the command that follows to succeed.
wait_for() {
  local seconds=$1
  shift
  for _ in $(seq 1 $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

node_idle() { [ "$(sinfo -h -n "$node" -o %T 2>/dev/null)" = idle ]; }

queue_empty() { [ -z "$(squeue -h -o %i 2>/dev/null)" ]; }

fail() {
  echo "$1" >&2
  for log in "$dir"/log/*.log; do
    [ -s "$log" ] && { echo "--- $log" >&2; tail -n 5 "$log" >&2; }
  done
  stop_all
  exit 1
}

up() {
  [ "$(id -u)" -eq 0 ] || { echo "a Slurm test cluster needs root (slurmd starts jobs as their owner)" >&2; exit 1; }
  local gone
  gone=$(missing)
  [ -z "$gone" ] || { echo "$gone not found: run test/helpers/slurm.sh install (infra/install.sh does)" >&2; exit 1; }
  mkdir -p "$dir"/{munge,db,state,spool,log,tmp}
  # munged refuses a socket directory that not every user can traverse.
  chmod 755 "$dir" "$dir/munge"
  node=$(hostname -s)
  local ctld_port slurmd_port dbd_port db_port memory
  ctld_port=$(free_port)
  slurmd_port=$(free_port)
  dbd_port=$(free_port)
  db_port=$(free_port)
  memory=8000
  export SLURM_CONF="$dir/slurm.conf"

  mungekey --create --keyfile="$dir/munge/munge.key" 2>/dev/null
  chmod 400 "$dir/munge/munge.key"
  # Slurm's daemons and commands ask munged for credentials concurrently; 2 threads make them time out.
  munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" --num-threads=10 ||
    fail "munged did not start"

  # Accounting needs slurmdbd, which needs MySQL/MariaDB. A throw-away server: empty data directory, no
  # privilege tables (--skip-grant-tables), listening on loopback only.
  mariadbd --no-defaults --user=root --datadir="$dir/db" --socket="$dir/mysql.sock" --port="$db_port" \
    --bind-address=127.0.0.1 --skip-grant-tables --skip-log-bin --innodb-buffer-pool-size=32M \
    --pid-file="$dir/mariadbd.pid" --log-error="$dir/log/mariadbd.log" >/dev/null 2>&1 &
  wait_for 30 port_open "$db_port" || fail "MariaDB did not start"

  cat >"$dir/slurmdbd.conf" <<CONF
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=root
StorageLoc=slurm_acct_db
PidFile=$dir/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
CONF
  chmod 600 "$dir/slurmdbd.conf" # slurmdbd refuses a readable config (it may hold a password)

  cat >"$SLURM_CONF" <<CONF
ClusterName=subtomo-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
TmpFS=$dir/tmp
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=1024
SchedulerType=sched/backfill
ReturnToService=2
InactiveLimit=0
SlurmdTimeout=60
# Seconds between SIGTERM and SIGKILL at a time limit or scancel (default 30): tests wait for it.
KillWait=2
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
# With auth/munge this names the munged socket used towards slurmdbd (slurm.conf(5)).
AccountingStoragePass=$dir/munge/munge.socket
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=2 RealMemory=$memory State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=ALL MaxTime=1 DefaultTime=1 State=UP
CONF

  slurmdbd || fail "slurmdbd did not start"
  wait_for 30 port_open "$dbd_port" || fail "slurmdbd did not open port $dbd_port"
  wait_for 30 sacctmgr -i add cluster subtomo-test || fail "sacctmgr could not register the cluster"
  slurmctld || fail "slurmctld did not start"
  wait_for 30 scontrol ping || fail "slurmctld does not answer"
  slurmd || fail "slurmd did not start"
  wait_for 60 node_idle || fail "node $node did not become idle"
  echo "SLURM_CONF=$SLURM_CONF"
  echo "PARTITION=main"
  echo "SHORT_PARTITION=short"
  echo "NODE=$node"
  echo "CPUS=2"
}

# The pid of daemon $1 if its pid file names a live process of that program started for this directory.
daemon_pid() {
  local pidfile="$dir/$1.pid" pid argv env
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  argv=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  env=$(tr '\0' ' ' <"/proc/$pid/environ" 2>/dev/null) || return 1
  [[ $argv == *"$1"* ]] || return 1
  # Every daemon here was started for DIR: its command line names it or SLURM_CONF in its environment does.
  [[ "$argv $env" == *"$dir/"* ]] || return 1
  echo "$pid"
}

stop_all() {
  export SLURM_CONF="$dir/slurm.conf"
  if daemon_pid slurmctld >/dev/null; then
    # Running jobs' slurmstepd processes outlive slurmd: end the jobs first.
    scancel --full --user="$(id -un)" 2>/dev/null || true
    wait_for 15 queue_empty || true
  fi
  for d in "${daemons[@]}"; do
    local pid
    pid=$(daemon_pid "$d") || continue
    kill "$pid" 2>/dev/null || true
    wait_for 10 test ! -e "/proc/$pid" || kill -9 "$pid" 2>/dev/null || true
  done
}

cmd=${1:-}
case "$cmd" in
  install) install ;;
  up)
    dir=$(realpath -m "${2:?usage: $0 up DIR}")
    up
    ;;
  down)
    dir=$(realpath -m "${2:?usage: $0 down DIR}")
    stop_all
    ;;
  *)
    echo "usage: $0 install | up DIR | down DIR" >&2
    exit 2
    ;;
esac
