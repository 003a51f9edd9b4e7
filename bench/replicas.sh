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
db=idp_bench_replicas
dsn=${PG/\/postgres\?/\/$db?}
work=$(mktemp -d)
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$PG" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== build"
CGO_ENABLED=0 go build -trimpath -tags nomsgpack -ldflags "-s -w" -o "$work/idp" ./cmd/idp
go build -o "$work/load" ./bench/load
go build -o "$work/proxy" ./bench/proxy
echo "machine: $ncpu cores; replica A on $CPUS_A, replica B on $CPUS_B, proxy and load tool on $CPUS_REST"

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

start_replica() { # name cpus
  IDP_CONFIG="$work/$1.yaml" taskset -c "$2" "$work/idp" serve >"$work/$1.log" 2>&1 &
  pids+=($!)
  local port=$((PORT + 1)); [ "$1" = B ] && port=$((PORT + 2))
  until curl -fs -o /dev/null "http://127.0.0.1:$port/ready"; do sleep 0.05; done
}
run() { # backends...
  local to
  to=$(printf 'http://127.0.0.1:%s,' "$@")
  taskset -c "$CPUS_REST" "$work/proxy" -listen "127.0.0.1:$PORT" -to "${to%,}" &
  local proxy=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/ready"; do sleep 0.05; done
  taskset -c "$CPUS_REST" "$work/load" -issuer "http://localhost:$PORT" -client-id bench-site \
    -client-secret "$secret" -redirect-uri http://127.0.0.1/callback -users "$work/users.txt" \
    -duration "$DURATION" -scenarios authcode-passkey -workers "$WORKERS" || true
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
