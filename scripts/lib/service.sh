# Sourced by the scripts that drive a running `serve` (schemathesis.sh,
# interop.sh): a fresh database on a throwaway cluster, and `serve` started on
# a free port. Each script keeps its own cleanup: it stops the cluster in DIR
# and kills $serve_pid.

# service_database DIR NAME: starts a throwaway cluster in DIR, creates the
# database NAME, points DATABASE_URL at it, and clears every
# DISTILLWATCH__ override and SQLX_OFFLINE of the caller's environment (the
# service runs on its defaults, logging warnings only).
service_database() {
    local dir=$1 name=$2
    eval "$(scripts/test-cluster.sh start "$dir")"
    psql "$DATABASE_URL" -qc "CREATE DATABASE $name" >/dev/null
    export DATABASE_URL="${DATABASE_URL%/postgres}/$name"
    unset SQLX_OFFLINE
    local v
    for v in $(env | grep -o '^DISTILLWATCH__[A-Z_]*'); do unset "$v"; done
    export DISTILLWATCH__LOG__FILTER=warn
}

# service_start BIN DIR: starts `BIN serve` on a free port of 127.0.0.1,
# its output in DIR/serve.out and DIR/serve.err; sets serve_pid and base (its
# URL). Exits 1 with its stderr when it does not say it listens within 30 s.
service_start() {
    local bin=$1 dir=$2
    "$bin" serve --bind 127.0.0.1:0 >"$dir/serve.out" 2>"$dir/serve.err" &
    serve_pid=$!
    for _ in $(seq 300); do grep -q "listening on" "$dir/serve.out" && break; sleep 0.1; done
    base=$(sed -n 's/^distillwatch listening on //p' "$dir/serve.out")
    [[ -n "$base" ]] || { echo "serve did not start:" >&2; cat "$dir/serve.err" >&2; exit 1; }
}
