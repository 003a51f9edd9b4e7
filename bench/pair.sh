#!/usr/bin/env bash
# Paired runs: is build B faster than build A at one scenario? A shared
# VM's speed moves by tens of percent from one minute to the next, so two
# bench/run.sh figures taken minutes apart cannot show a change of a few
# percent. pair.sh runs A and B back to back, each on a fresh copy of a
# database made for it, the order alternating from pair to pair, and
# prints each pair's rates, their ratio B/A and the median ratio.
#
#   bash bench/pair.sh HEAD~1             # A = that commit, B = the working tree
#   bash bench/pair.sh HEAD~2 HEAD~1      # two commits
#   SCENARIO=authcode-passkey PAIRS=8 bash bench/pair.sh HEAD~1
#
# SCENARIO is a load tool scenario (default refresh), PAIRS the number of
# pairs (10), DURATION each run's length (4s), WORKERS the load tool's
# workers (8). Both builds are driven by the load tool of the working tree.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: bench/pair.sh REV_A [REV_B]  (REV_B defaults to the working tree)" >&2; exit 2; }
SCENARIO=${SCENARIO:-refresh}
PAIRS=${PAIRS:-10}
DURATION=${DURATION:-4s}
WORKERS=${WORKERS:-8}
PORT=${PORT:-19450}
[[ $PAIRS =~ ^[1-9][0-9]*$ ]] || { echo "PAIRS=$PAIRS: want a whole number of pairs, at least 1" >&2; exit 2; }
for rev in "$@"; do
  git rev-parse --verify -q "$rev^{commit}" >/dev/null || { echo "$rev: not a commit of this repository" >&2; exit 2; }
done

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  git worktree remove --force "$work/src-a" 2>/dev/null || true
  git worktree remove --force "$work/src-b" 2>/dev/null || true
  git worktree prune
  rm -rf "$work"
}
trap cleanup EXIT
secret=$(head -c 32 /dev/urandom | base64 | tr -d '/+=')

# build NAME REV: the provider at REV (the working tree if REV is empty) in
# $work/NAME, with its own configuration and a database of 32 members.
build() {
  local dir=$work/$1 src=.
  mkdir -p "$dir"
  if [ -n "$2" ]; then
    src=$work/src-$1
    git worktree add -q --detach "$src" "$2"
  fi
  (cd "$src" && CGO_ENABLED=0 go build -trimpath -tags nomsgpack -ldflags "-s -w" -o "$dir/idp" ./cmd/idp)
  bench_config "$PORT" "127.0.0.1:$PORT" "{driver: sqlite, dsn: $dir/idp.db}" "$secret" >"$dir/idp.yaml"
  IDP_CONFIG=$dir/idp.yaml add_bench_members "$dir/idp" 32 "$work/users.txt"
  mv "$dir/idp.db" "$dir/template.db"
}

echo "== build A (${1}) and B (${2:-the working tree})"
build a "$1"
build b "${2:-}"
go build -o "$work/load" ./bench/load

# run NAME runs SCENARIO against NAME on a fresh copy of its database and
# leaves the rate in $rate. A run with errors, or whose provider did not
# answer all through it, stops the script: its rate would mislead.
rate=
run() {
  local dir=$work/$1 errors
  if curl -fs -o /dev/null "http://127.0.0.1:$PORT/ready"; then
    echo "port $PORT already answers: stop what listens there, or set PORT" >&2
    exit 1
  fi
  rm -f "$dir/idp.db-wal" "$dir/idp.db-shm"
  cp "$dir/template.db" "$dir/idp.db"
  IDP_CONFIG=$dir/idp.yaml "$dir/idp" serve >"$dir/serve.log" 2>&1 &
  pid=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$PORT/ready"; do
    kill -0 "$pid" 2>/dev/null || { cat "$dir/serve.log" >&2; exit 1; }
    sleep 0.05
  done
  "$work/load" -issuer "http://localhost:$PORT" -client-id bench-site -client-secret "$secret" \
    -redirect-uri http://127.0.0.1/callback -users "$work/users.txt" -duration "$DURATION" \
    -scenarios "$SCENARIO" -workers "$WORKERS" >"$dir/load.out" 2>&1 || true
  kill -0 "$pid" 2>/dev/null || { echo "build $1: the provider exited during the run:" >&2; cat "$dir/serve.log" >&2; exit 1; }
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
  read -r rate errors < <(awk -v s="$SCENARIO" '$1 == s {print $4, $9}' "$dir/load.out") || true
  if ! awk -v r="${rate:-0}" -v e="${errors:-1}" 'BEGIN {exit !(r > 0 && e == 0)}'; then
    echo "build $1: no clean rate for $SCENARIO; the load tool said:" >&2
    cat "$dir/load.out" >&2
    exit 1
  fi
}

echo "== $PAIRS pairs, $SCENARIO, $WORKERS workers, $DURATION each"
ratios=$work/ratios
for i in $(seq 1 "$PAIRS"); do
  if ((i % 2)); then
    run a; a=$rate; run b; b=$rate
  else
    run b; b=$rate; run a; a=$rate
  fi
  awk -v i="$i" -v a="$a" -v b="$b" 'BEGIN {printf "pair %d: A %.1f/s  B %.1f/s  B/A %.3f\n", i, a, b, b / a}'
  awk -v a="$a" -v b="$b" 'BEGIN {printf "%.4f\n", b / a}' >>"$ratios"
done
sort -n "$ratios" | awk '{r[NR] = $1} END {
  m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
  printf "B/A median %.3f (%+.1f%%), range %.3f-%.3f over %d pairs\n", m, (m - 1) * 100, r[1], r[NR], NR
}'
