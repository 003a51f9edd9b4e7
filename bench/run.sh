#!/usr/bin/env bash
# Reproduces the numbers in BENCHMARKS.md: builds the static binary, starts
# a provider on a fresh SQLite database on 127.0.0.1, measures start-up and
# idle memory, then drives it with the load tool (bench/load), scenario by
# scenario, at the worker counts the targets name.
#
#   bash bench/run.sh            # ~2 minutes
#   DURATION=5s bash bench/run.sh
#
# Everything stays on loopback; the provider and its files live in a
# temporary directory that is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

DURATION=${DURATION:-10s}
PORT=${PORT:-19400}
work=$(mktemp -d)
trap 'kill "${pid:-0}" "${floor_pid:-0}" "${engine_pid:-0}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

echo "== build"
# Built as the Dockerfile builds it.
CGO_ENABLED=0 go build -trimpath -tags nomsgpack -ldflags "-s -w" -o "$work/idp" ./cmd/idp
go build -o "$work/load" ./bench/load
go build -o "$work/floor" ./bench/floor
go test -c -o "$work/keys.test" ./idp/keys
# The protocol engine's own ceiling: zitadel/oidc's example server, at the
# version in go.mod (in memory, a one-step login, no hashing).
go build -o "$work/engine" github.com/zitadel/oidc/v3/example/server
printf 'binary: %s MB (static, stripped)\n' "$(du -m "$work/idp" | cut -f1)"

secret=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')
{
  bench_config "$PORT" "127.0.0.1:$PORT" "{driver: sqlite, dsn: $work/idp.db}" "$secret"
  cat <<EOF
  - id: bench-site-es256
    name: Bench Site (ES256)
    type: confidential
    secret: $secret
    redirect_uris: [http://127.0.0.1/callback]
    id_token_signing_alg: ES256
EOF
} >"$work/idp.yaml"
export IDP_CONFIG="$work/idp.yaml"

echo "== accounts"
add_bench_members "$work/idp" 32 "$work/users.txt"

# Start-up on an existing database: exec until /ready answers 200.
start_provider() {
  local t0 t1
  t0=$(date +%s%N)
  "$work/idp" serve >"$work/serve.log" 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/ready"; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
    sleep 0.002
  done
  t1=$(date +%s%N)
  echo "start-up to ready: $(((t1 - t0) / 1000000)) ms (includes the polling curl)"
}
"$work/idp" migrate >/dev/null # the first start creates keys; measure the second
start_provider
kill "$pid"; wait "$pid" || true
start_provider
sleep 2
printf 'RSS 2 s after start-up: %s\n' "$(grep VmRSS /proc/$pid/status | awk '{printf "%.1f MB", $2/1024}')"
# Start-up is over 5 s after the server takes requests: its pages go.
sleep 4
printf 'idle RSS: %s\n' "$(grep -E 'VmRSS|RssAnon|RssFile' /proc/$pid/status | awk '{printf "%s %.1f MB  ", $1, $2/1024}')"

load() {
  "$work/load" -issuer "http://localhost:$PORT" -client-id "${CLIENT:-bench-site}" -client-secret "$secret" \
    -redirect-uri http://127.0.0.1/callback -users "$work/users.txt" -pid "$pid" -duration "$DURATION" "$@"
}

# The cost floors on this machine now: the load figures are read against
# them (a shared VM's speed drifts by tens of percent over a day).
echo "== cost floors"
go test ./idp/keys ./idp/password ./idp/passkey -run '^$' -bench 'SignFloor|Verify$|VerifyFloor' -benchtime 40x | grep '^Benchmark'

echo "== load (each scenario $DURATION)"
# The floor for the public documents: the same bytes from plain net/http,
# measured in the same run, interleaved (the VM's speed drifts).
"$work/floor" -from "http://localhost:$PORT" -listen "127.0.0.1:$((PORT + 1))" &
floor_pid=$!
sleep 0.5
for _ in 1 2 3; do
  load -scenarios discovery,discovery-floor,jwks,jwks-floor -workers 32 -floor "http://127.0.0.1:$((PORT + 1))"
done
kill "$floor_pid"
load -scenarios authcode-password -workers 8
load -scenarios authcode-password -workers 32
# Passkey flows against the engine's ceiling, interleaved.
REDIRECT_URI=http://127.0.0.1/callback PORT=$((PORT + 2)) "$work/engine" 2>/dev/null &
engine_pid=$!
until curl -fs -o /dev/null "http://localhost:$((PORT + 2))/.well-known/openid-configuration"; do sleep 0.05; done
# rate SCENARIO: shows the table (on standard error) and prints the
# scenario's ops/s, for the ratios.
rate() {
  local out
  out=$(cat)
  printf '%s\n' "$out" >&2
  awk -v s="$1" '$1 == s {print $4}' <<<"$out"
}
for _ in 1 2; do
  pk=$(load -scenarios authcode-passkey -workers 8 2>&1 | rate authcode-passkey)
  eng=$("$work/load" -issuer "http://localhost:$((PORT + 2))/" -client-id web -client-secret secret \
    -redirect-uri http://127.0.0.1/callback -user test-user@localhost -password verysecure \
    -duration "$DURATION" -scenarios authcode-engine -workers 8 2>&1 | rate authcode-engine)
  awk -v a="$pk" -v b="$eng" 'BEGIN {printf "passkey flows / engine flows: %.2f\n", a / b}'
done
kill "$engine_pid"
# Refresh is read against RS256 signatures per second with every core
# signing, measured on either side of it.
sign_rate() {
  "$work/keys.test" -test.run '^$' -test.bench 'SignFloor/RS256-parallel' -test.benchtime 2s |
    awk '/ns\/op/ {printf "%.0f", 1e9 / $3}'
}
before=$(sign_rate)
for _ in 1 2; do
  ref=$(load -scenarios refresh -workers 8 2>&1 | rate refresh)
  after=$(sign_rate)
  awk -v r="$ref" -v a="$before" -v b="$after" \
    'BEGIN {printf "RS256 signatures/s, every core signing: %d before, %d after; refresh / their mean: %.2f\n", a, b, r / ((a + b) / 2)}'
  before=$after
done
load -scenarios userinfo,introspect -workers 8
echo "== the same with ES256 ID tokens"
CLIENT=bench-site-es256 load -scenarios authcode-passkey,refresh -workers 8
printf 'RSS after the runs: %s\n' "$(grep VmRSS /proc/$pid/status | awk '{printf "%.1f MB", $2/1024}')"
