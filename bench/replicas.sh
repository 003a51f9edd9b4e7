#!/usr/bin/env bash
# Replica scaling (BENCHMARKS.md): passkey flows through a round-robin
# proxy (bench/proxy) to one provider replica, then to two, both on one
# PostgreSQL database, each replica pinned to its own cores with taskset.
#
#   bash bench/replicas.sh
#   CPUS_A=0-1 CPUS_B=2-3 CPUS_REST=4-7 DURATION=20s bash bench/replicas.sh
#
# CPUS_A and CPUS_B are the replicas' cores, CPUS_REST those of the proxy
# and the load tool (PostgreSQL runs where the system puts it). The figure
# means something only when the replicas' cores are not shared with the
# rest: on a two-core machine the defaults pin a replica to each core and
# leave the proxy, the load tool and PostgreSQL to compete with them.
#
# REPLICA_CPU (say 0.3) also holds each replica to that many cores with a
# CPU quota of its own (a cgroup; needs root). On a machine without cores
# to spare that is the honest way to ask the question: with each replica
# the bottleneck on its own budget, and the shared parts (PostgreSQL, the
# proxy, the load tool) given what is left, do two replicas do twice the
# work of one, or do they wait for each other in the database?
#
#   REPLICA_CPU=0.3 bash bench/replicas.sh
#
# PostgreSQL must accept connections at IDP_TEST_POSTGRES (the test
# suite's variable; default postgres@127.0.0.1:5432, trust). A database
# named idp_bench_replicas is created and dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

PG=${IDP_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
DURATION=${DURATION:-10s}
WORKERS=${WORKERS:-8}
ncpu=$(nproc)
CPUS_A=${CPUS_A:-0}
CPUS_B=${CPUS_B:-$((ncpu > 1 ? 1 : 0))}
CPUS_REST=${CPUS_REST:-0-$((ncpu - 1))}
PORT=${PORT:-19700}
REPLICA_CPU=${REPLICA_CPU:-}
if [ -n "$REPLICA_CPU" ]; then
  # The CFS quota per 100 ms period, in microseconds.
  quota=$(awk -v c="$REPLICA_CPU" 'BEGIN {q = int(c * 100000); if (q < 1000) exit 1; print q}') ||
    { echo "REPLICA_CPU=$REPLICA_CPU: want a number of cores, at least 0.01" >&2; exit 2; }
fi
db=idp_bench_replicas
dsn=${PG/\/postgres\?/\/$db?}
work=$(mktemp -d)
pids=()
cgroups=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  local g
  for g in "${cgroups[@]}"; do rmdir "$g" 2>/dev/null || true; done
  psql "$PG" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build"
CGO_ENABLED=0 go build -trimpath -tags nomsgpack -ldflags "-s -w" -o "$work/idp" ./cmd/idp
go build -o "$work/load" ./bench/load
go build -o "$work/proxy" ./bench/proxy
echo "machine: $ncpu cores; replica A on $CPUS_A, replica B on $CPUS_B, proxy and load tool on $CPUS_REST${REPLICA_CPU:+; each replica held to $REPLICA_CPU cores}"

psql "$PG" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
psql "$PG" -qc "CREATE DATABASE $db" >/dev/null
(umask 077; head -c 32 /dev/urandom | base64 >"$work/secrets.key")
secret=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')
for r in A B; do
  port=$((PORT + 1)); [ "$r" = B ] && port=$((PORT + 2))
  {
    bench_config "$PORT" "127.0.0.1:$port" "{driver: postgres, dsn: \"$dsn\"}" "$secret"
    echo "secrets: {key_file: $work/secrets.key}"
  } >"$work/$r.yaml"
done
IDP_CONFIG="$work/A.yaml" "$work/idp" migrate >/dev/null
IDP_CONFIG="$work/A.yaml" add_bench_members "$work/idp" "$WORKERS" "$work/users.txt"

# quota_group NAME creates a cgroup holding its processes to REPLICA_CPU
# cores (cgroup v2's cpu.max, else v1's CFS quota) and sets procs to its
# cgroup.procs file.
quota_group() {
  local g
  if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    g=/sys/fs/cgroup/idp-bench-$1-$$
    # The root's children get a cpu.max only once it hands them the
    # controller.
    grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control || echo +cpu >/sys/fs/cgroup/cgroup.subtree_control
    mkdir "$g" && echo "$quota 100000" >"$g/cpu.max"
  elif [ -w /sys/fs/cgroup/cpu ]; then
    g=/sys/fs/cgroup/cpu/idp-bench-$1-$$
    mkdir "$g" && echo 100000 >"$g/cpu.cfs_period_us" && echo "$quota" >"$g/cpu.cfs_quota_us"
  else
    echo "REPLICA_CPU needs a writable cgroup cpu controller (run as root)" >&2
    exit 2
  fi
  cgroups+=("$g")
  procs=$g/cgroup.procs
}

start_replica() { # name cpus
  local procs=/dev/null
  if [ -n "$REPLICA_CPU" ]; then quota_group "$1"; fi
  # The shell enters the cgroup, then becomes the replica.
  IDP_CONFIG="$work/$1.yaml" PROCS="$procs" taskset -c "$2" \
    sh -c 'echo $$ >"$PROCS"; exec "$0" serve' "$work/idp" >"$work/$1.log" 2>&1 &
  pids+=($!)
  local port=$((PORT + 1)); [ "$1" = B ] && port=$((PORT + 2))
  until curl -fs -o /dev/null "http://127.0.0.1:$port/ready"; do sleep 0.05; done
}
# cpu_ticks PID: the process's CPU time so far, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# busy: the median share of a core each replica used per second while the
# load ran (the median leaves out the load tool's set-up of its accounts):
# whether the replicas were the limit.
busy() {
  awk -v hz="$(getconf CLK_TCK)" 'NR > 1 {a[n] = ($1 - pa) / hz; b[n] = ($2 - pb) / hz; n++} {pa = $1; pb = $2}
    function median(x,   i, j, t) {
      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (x[j] < x[i]) {t = x[i]; x[i] = x[j]; x[j] = t}
      return n ? x[int(n / 2)] : 0
    }
    END {printf "cores used (median of each second): replica A %.2f, replica B %.2f\n", median(a), median(b)}' "$1"
}
run() { # backends...
  local to sampler
  to=$(printf 'http://127.0.0.1:%s,' "$@")
  taskset -c "$CPUS_REST" "$work/proxy" -listen "127.0.0.1:$PORT" -to "${to%,}" &
  local proxy=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/ready"; do sleep 0.05; done
  while :; do echo "$(cpu_ticks "${pids[0]}") $(cpu_ticks "${pids[1]}")"; sleep 1; done >"$work/ticks" &
  sampler=$!
  taskset -c "$CPUS_REST" "$work/load" -issuer "http://localhost:$PORT" -client-id bench-site \
    -client-secret "$secret" -redirect-uri http://127.0.0.1/callback -users "$work/users.txt" \
    -duration "$DURATION" -scenarios authcode-passkey -workers "$WORKERS" || true
  kill "$sampler"; wait "$sampler" 2>/dev/null || true
  busy "$work/ticks"
  kill "$proxy"; wait "$proxy" 2>/dev/null || true
}

start_replica A "$CPUS_A"
start_replica B "$CPUS_B"
for _ in 1 2; do
  echo "== one replica (A)"
  run $((PORT + 1))
  echo "== two replicas (A, B)"
  run $((PORT + 1)) $((PORT + 2))
done
