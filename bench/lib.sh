# Shared by bench/run.sh and bench/replicas.sh (sourced): a provider's
# configuration for the load tool, and the members it signs in as.

# bench_config ISSUER_PORT LISTEN DATABASE SECRET prints a provider's
# configuration with the client bench-site; the caller may append more
# clients, or other top-level keys, after it.
bench_config() {
  cat <<EOF
issuer: http://localhost:$1
listen: $2
database: $3
log: {level: error}
passkeys: {rollout: everyone}
# The load tool is one address doing what a whole community does: the
# per-address rates (identifier step, authorization requests, ceremonies)
# would turn it away within a second.
throttle: {identifier_per_minute: 0, authorize_per_minute: 0, ceremony_per_minute: 0}
clients:
  - id: bench-site
    name: Bench Site
    type: confidential
    secret: $4
    redirect_uris: [http://127.0.0.1/callback]
EOF
}

# add_bench_members IDP N USERS adds members bench1..benchN with the
# provider binary IDP (configured by $IDP_CONFIG) and writes their
# "login:password" lines to the file USERS, for the load tool's -users.
add_bench_members() {
  : >"$3"
  local i pw
  for i in $(seq 1 "$2"); do
    pw="bench password number $i"
    printf %s "$pw" | "$1" users add --username "bench$i" --email "bench$i@example.org" --password-stdin >/dev/null
    echo "bench$i:$pw" >>"$3"
  done
}
