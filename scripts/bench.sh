#!/usr/bin/env bash
# Benchmarks. Never part of the tests. Figures go to stdout as `name=value` lines; logs go to
# stderr; raw outputs are kept in .bench/ (git-ignored).
#
# Usage:
#   scripts/bench.sh                run every section
#   scripts/bench.sh SECTION...     run only these sections (pgbench, ...)
#
# Environment:
#   DATABASE_URL            used if it answers, else a private cluster is started (scripts/db.sh)
#   ASCEND_BENCH_SECONDS    duration of each timed run (default 15)
#   ASCEND_PGBENCH_SCALE    pgbench scale factor (default 10, about 160 MB)
#   ASCEND_PGBENCH_CLIENTS  pgbench clients (default 8)
#   ASCEND_PGBENCH_JOBS     pgbench threads (default 2)
#
# The pgbench figure is the yardstick: it is measured on the same server as ours, with the
# server's durable defaults (fsync on), so our figures can be read relative to it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'bench.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
section() { printf '\n==> %s\n' "$*" >&2; }

readonly BENCH_SECONDS="${ASCEND_BENCH_SECONDS:-15}"
readonly OUT_DIR=.bench

# Prints the path of PostgreSQL tool $1 (PATH first, then /usr/lib/postgresql/*/bin).
pg_tool() {
    local tool=$1 dir
    if command -v "$tool"; then
        return 0
    fi
    # shellcheck disable=SC2012 # directory names are plain version numbers
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x $dir/$tool ]]; then
            printf '%s\n' "$dir/$tool"
            return 0
        fi
    done
    die "$tool not found (install postgresql-client)"
}

# Prints URL $1 with its database replaced by $2 (query parameters such as host= are kept).
url_with_db() {
    local url=$1 db=$2 base query rest scheme authority
    base=${url%%\?*}
    query=${url:${#base}}
    scheme=${base%%://*}
    [[ $scheme != "$base" ]] || die "not a postgres:// URL: $url"
    rest=${base#*://}
    authority=${rest%%/*}
    printf '%s://%s/%s%s\n' "$scheme" "$authority" "$db" "$query"
}

# --- section: pgbench (TPC-B, the server's yardstick) ----------------------------------------
bench_pgbench() {
    section "pgbench TPC-B on the same server (scale ${ASCEND_PGBENCH_SCALE:-10}, ${BENCH_SECONDS}s)"
    local psql pgbench url out tps
    psql="$(pg_tool psql)"
    pgbench="$(pg_tool pgbench)"
    local -a admin=("$psql" "$DATABASE_URL" -X -q -A -t -v ON_ERROR_STOP=1)
    if [[ "$("${admin[@]}" -c "select 1 from pg_database where datname = 'ascend_pgbench'")" != 1 ]]; then
        log "creating database ascend_pgbench"
        "${admin[@]}" -c 'create database ascend_pgbench'
    fi
    url="$(url_with_db "$DATABASE_URL" ascend_pgbench)"

    log "pgbench -i -s ${ASCEND_PGBENCH_SCALE:-10}"
    "$pgbench" -i -q -s "${ASCEND_PGBENCH_SCALE:-10}" "$url" >&2

    out="$OUT_DIR/pgbench-tpcb.txt"
    log "pgbench -c ${ASCEND_PGBENCH_CLIENTS:-8} -j ${ASCEND_PGBENCH_JOBS:-2} -T $BENCH_SECONDS -M prepared"
    "$pgbench" -c "${ASCEND_PGBENCH_CLIENTS:-8}" -j "${ASCEND_PGBENCH_JOBS:-2}" \
        -T "$BENCH_SECONDS" -M prepared "$url" 2>&1 | tee "$out" >&2

    # PostgreSQL >= 14 prints "(without initial connection time)", older ones
    # "(excluding connections establishing)".
    tps="$(sed -nE 's/^tps = ([0-9.]+) \((without initial connection time|excluding connections establishing)\).*/\1/p' "$out")"
    [[ -n $tps ]] || die "no tps line in pgbench output ($out)"
    printf 'pgbench_tpcb_tps=%s\n' "$tps"
}

# --- section: ascend benchmarks (placeholders) ------------------------------------------------
# TODO(bench): each section below runs one `ascend bench` subcommand against $DATABASE_URL and
# prints its figures as name=value lines on stdout (raw output to $OUT_DIR/<section>.txt).
# Build once with `cargo build --release --bin ascend` before the first section.
#
# bench_orders() {
#     section "ascend: order placement"
#     cargo run --release --bin ascend -- bench ... --seconds "$BENCH_SECONDS"
#     # prints e.g. ascend_orders_per_sec=<number>
# }
#
# bench_fills() {
#     section "ascend: order matching / fills"
#     cargo run --release --bin ascend -- bench ... --seconds "$BENCH_SECONDS"
# }
#
# bench_ledger() {
#     section "ascend: ledger postings / invariant checks"
#     cargo run --release --bin ascend -- bench ...
# }

# Sections run by default, in order. TODO(bench): add the ascend sections here.
readonly ALL_SECTIONS=(pgbench)

main() {
    local -a sections=("$@")
    ((${#sections[@]})) || sections=("${ALL_SECTIONS[@]}")
    local s
    for s in "${sections[@]}"; do
        declare -F "bench_$s" >/dev/null || die "unknown section '$s' (known: ${ALL_SECTIONS[*]})"
    done

    DATABASE_URL="$(scripts/db.sh)"
    export DATABASE_URL
    mkdir -p "$OUT_DIR"

    for s in "${sections[@]}"; do
        "bench_$s"
    done
}

main "$@"
