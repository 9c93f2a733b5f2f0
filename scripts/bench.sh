#!/usr/bin/env bash
# Benchmarks. Never part of the tests. Figures go to stdout as `name=value` lines; logs go to
# stderr; raw outputs are kept in .bench/ (git-ignored).
#
# Usage:
#   scripts/bench.sh                run every section
#   scripts/bench.sh SECTION...     run only these sections (pgbench, place_orders, settle,
#                                   crawl, portfolio, snapshot, import)
#
# Environment:
#   DATABASE_URL            used if it answers, else a private cluster is started (scripts/db.sh)
#   ASCEND_BENCH_SECONDS    duration of each timed run (default 15)
#   ASCEND_PGBENCH_SCALE    pgbench scale factor (default 10, about 160 MB)
#   ASCEND_PGBENCH_CLIENTS  pgbench clients (default 8)
#   ASCEND_PGBENCH_JOBS     pgbench threads (default 2)
#   ASCEND_BENCH_CLIENTS    concurrent clients of place_orders (default 8)
#   ASCEND_SETTLE_ORDERS    resting orders created for settle (default 100000)
#   ASCEND_SETTLE_FILL_MODEL  fill model settle runs with, set as the deployment setting
#                           fill_model before it (e.g. volume:0.1); empty (the default) sets
#                           nothing, so the deployment default applies. When set, the rate is
#                           printed as settle_volume_fills_per_sec, without a ratio or target
#   ASCEND_SNAPSHOT_USERS   users (10 holdings each) of snapshot (default 100000)
#   ASCEND_IMPORT_ORDERS    orders in the CSV file of import (default 100000)
#   ASCEND_CRAWL_HISTORY    daily bars per symbol of crawl's history run (default 5; 0 skips it)
#
# settle, crawl and import also run the `ascend` binary; it is built with the example and both
# are copied to .bench/bin/ first, so a concurrent build into a shared CARGO_TARGET_DIR cannot
# swap them mid-run. The example builds each scenario in its database, then times the binary
# under GNU time (/usr/bin/time -v), which gives the wall time and the peak RSS of the binary
# alone: `ascend settle` (as an operator, ASCEND_NOW at the example's settle time; fills/s =
# the fills it reports ÷ its wall seconds), `ascend place-order --file` and `crawl-stocks`.
#
# The pgbench figure is the yardstick: it is measured on the same server as ours, with the
# server's durable defaults (fsync on), so our figures can be read relative to it. Targets of
# the issue "The order as a domain concept", met or not in one run of
#   scripts/bench.sh pgbench settle import     (with place_orders for its ratio):
#   settle_to_pgbench_ratio       settle_fills_per_sec / pgbench_tpcb_tps     >= 12
#   place_order_to_pgbench_ratio  place_order_tps / pgbench_tpcb_tps          >= 1.0
#   import_to_pgbench_ratio       import_orders_per_sec / pgbench_tpcb_tps    >= 5
#   settle_peak_rss_mb, import_peak_rss_mb                                    <= 64
# Each is printed beside its figure as <name>_target=<target>; whether it was met goes to
# stderr. A ratio needs the pgbench section in the same run (else the last saved pgbench
# figure is used, and stderr says so).
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
    PGBENCH_TPS=$tps
    # Settle the server before the next section: without this, autovacuum and the checkpoint
    # of pgbench's 160 MB of updates run during it (seen halving place_orders right after).
    log "vacuum and checkpoint after pgbench"
    "$psql" "$url" -X -q -c 'VACUUM ANALYZE' >&2
    "${admin[@]}" -c 'CHECKPOINT' >&2
}

# --- sections: ascend benchmarks (examples/bench.rs) -----------------------------------------
# Each runs one subcommand of the `bench` example in a throw-away database ascend_bench_<pid>
# on the same server as pgbench; its name=value lines are copied to stdout and kept in
# $OUT_DIR/<section>.txt. A run whose library calls failed, or whose audit found a violation,
# exits non-zero: the section is reported as failed and bench.sh exits 1 at the end.

readonly BENCH_CLIENTS="${ASCEND_BENCH_CLIENTS:-8}"
readonly SETTLE_ORDERS="${ASCEND_SETTLE_ORDERS:-100000}"
readonly SNAPSHOT_USERS="${ASCEND_SNAPSHOT_USERS:-100000}"
readonly IMPORT_ORDERS="${ASCEND_IMPORT_ORDERS:-100000}"
readonly CRAWL_HISTORY="${ASCEND_CRAWL_HISTORY:-5}"
readonly SETTLE_FILL_MODEL="${ASCEND_SETTLE_FILL_MODEL:-}"
# Targets, relative to the server's yardstick where possible.
readonly TARGET_PLACE_RATIO=1.0     # place_order_tps / pgbench_tpcb_tps
readonly TARGET_SETTLE_RATIO=12     # settle_fills_per_sec / pgbench_tpcb_tps
readonly TARGET_SETTLE_RSS_MB=64    # peak RSS of `ascend settle`
readonly TARGET_CRAWL_UPSERT_MS=100 # database write of the full listing
readonly TARGET_CRAWL_RSS_MB=50     # peak RSS of `ascend crawl-stocks`
readonly TARGET_PORTFOLIO_MS=300    # portfolio of 50 holdings, quotes answered after 200 ms
readonly TARGET_SNAPSHOT_SECONDS=5  # snapshot of 100,000 users with 10 holdings each
readonly TARGET_IMPORT_RATIO=5      # import_orders_per_sec / pgbench_tpcb_tps
readonly TARGET_IMPORT_RSS_MB=64    # peak RSS of `ascend place-order --file`

BENCH_BIN=""
PGBENCH_TPS=""
PLACE_TPS=""
SETTLE_FPS=""
IMPORT_OPS=""
ASCEND_BIN=""
FAILED=()

# Builds the example and the binary once (release), copies both to $OUT_DIR/bin and sets
# BENCH_BIN and ASCEND_BIN.
build_bench() {
    [[ -z $BENCH_BIN ]] || return 0
    log "cargo build --release --example bench --bin ascend"
    cargo build --release --example bench --bin ascend >&2
    local target="${CARGO_TARGET_DIR:-target}/release" name
    for name in examples/bench ascend; do
        [[ -x $target/$name ]] || die "built, but $target/$name is missing"
    done
    mkdir -p "$OUT_DIR/bin"
    cp "$target/examples/bench" "$target/ascend" "$OUT_DIR/bin/"
    BENCH_BIN="$OUT_DIR/bin/bench"
    ASCEND_BIN="$OUT_DIR/bin/ascend"
}

# Runs the example with arguments "$@", output to $OUT_DIR/$1.txt and stdout; returns its status.
run_bench() {
    local name=$1 rc=0
    shift
    local out="$OUT_DIR/$name.txt"
    "$BENCH_BIN" --database-url "$DATABASE_URL" "$@" >"$out" || rc=$?
    cat "$out"
    if ((rc != 0)); then
        log "error: bench $* exited with status $rc (library errors or audit violations: see above)"
        FAILED+=("$name")
    fi
    return 0
}

# Prints the value of name $2 in the name=value file $1.
figure() { sed -nE "s/^$2=(.*)$/\1/p" "$1" | tail -n 1; }

# Prints "yes" if $1 >= $2 (decimals), else "no".
at_least() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 >= b + 0) ? "yes" : "no" }'; }

# Prints "yes" if $1 <= $2 (decimals), else "no".
at_most() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? "yes" : "no" }'; }

# Prints `<figure>_target=<target>` for figure $2 of section $1 (an upper bound) and logs
# whether it was met.
target_at_most() {
    local section=$1 name=$2 target=$3 value
    value="$(figure "$OUT_DIR/$section.txt" "$name")"
    [[ -n $value ]] || return 0
    printf '%s_target=%s\n' "$name" "$target"
    log "$name $value; target <= $target: $(at_most "$value" "$target")"
}

# --- section: place_orders (orders::place by concurrent clients) -----------------------------
bench_place_orders() {
    section "ascend: order placement (${BENCH_CLIENTS} clients, ${BENCH_SECONDS}s)"
    build_bench
    run_bench place_orders place-orders --clients "$BENCH_CLIENTS" --seconds "$BENCH_SECONDS"
    PLACE_TPS="$(figure "$OUT_DIR/place_orders.txt" place_order_tps)"
}

# --- section: settle (`ascend settle` over resting orders, about half crossed) ---------------
# With ASCEND_SETTLE_FILL_MODEL the example sets the deployment setting fill_model first and
# prints settle_volume_fills_per_sec, which has no ratio target.
bench_settle() {
    local -a model=()
    [[ -z $SETTLE_FILL_MODEL ]] || model=(--fill-model "$SETTLE_FILL_MODEL")
    section "ascend: settle (${SETTLE_ORDERS} resting orders, about half crossed; fill model ${SETTLE_FILL_MODEL:-the deployment default}; the binary)"
    build_bench
    run_bench settle settle --orders "$SETTLE_ORDERS" --ascend-bin "$ASCEND_BIN" "${model[@]}"
    if [[ -z $SETTLE_FILL_MODEL ]]; then
        SETTLE_FPS="$(figure "$OUT_DIR/settle.txt" settle_fills_per_sec)"
    else
        local fps
        fps="$(figure "$OUT_DIR/settle.txt" settle_volume_fills_per_sec)"
        [[ -z $fps ]] || log "settle with fill model $SETTLE_FILL_MODEL: $fps fills/s (no target)"
    fi
    target_at_most settle settle_peak_rss_mb "$TARGET_SETTLE_RSS_MB"
}

# --- section: crawl (the full listing from a local server, 50 ms per response) ---------------
# The wall time of the listing crawl is held to the bound the example prints beside it: each
# host's requests in rounds of 4 (its polite concurrency), each round one response delay and
# one pause, plus a second. The history crawl's figure has the same bound beside it, for
# reading only.
bench_crawl() {
    section "ascend: crawl of the full listing (950 + 1,820 stocks, 1,000 ETFs/ETNs; 50 ms per response), then --history ${CRAWL_HISTORY}"
    build_bench
    run_bench crawl crawl --history "$CRAWL_HISTORY" --ascend-bin "$ASCEND_BIN"
    local bound rerun
    bound="$(figure "$OUT_DIR/crawl.txt" crawl_wall_bound_seconds)"
    [[ -z $bound ]] || target_at_most crawl crawl_wall_seconds "$bound"
    target_at_most crawl crawl_upsert_ms "$TARGET_CRAWL_UPSERT_MS"
    rerun="$(figure "$OUT_DIR/crawl.txt" crawl_upsert_rerun_ms)"
    [[ -z $rerun ]] || log "crawl_upsert_rerun_ms $rerun (the write of every crawl after the first); target <= $TARGET_CRAWL_UPSERT_MS: $(at_most "$rerun" "$TARGET_CRAWL_UPSERT_MS")"
    target_at_most crawl crawl_peak_rss_mb "$TARGET_CRAWL_RSS_MB"
}

# --- section: portfolio (50 holdings, live quotes answered after 200 ms) ---------------------
bench_portfolio() {
    section "ascend: portfolio of 50 holdings (quote server answers after 200 ms; median of 5)"
    build_bench
    run_bench portfolio portfolio --holdings 50 --delay-ms 200 --runs 5
    target_at_most portfolio portfolio_ms "$TARGET_PORTFOLIO_MS"
}

# --- section: snapshot (one date, many users) ------------------------------------------------
bench_snapshot() {
    section "ascend: snapshot of ${SNAPSHOT_USERS} users with 10 holdings each"
    build_bench
    run_bench snapshot snapshot --users "$SNAPSHOT_USERS" --per-user 10
    target_at_most snapshot snapshot_seconds "$TARGET_SNAPSHOT_SECONDS"
}

# --- section: import (place-order --file through the binary) ---------------------------------
bench_import() {
    section "ascend: place-order --file of ${IMPORT_ORDERS} orders for 1,000 users (the binary)"
    build_bench
    run_bench import import --orders "$IMPORT_ORDERS" --users 1000 --ascend-bin "$ASCEND_BIN"
    IMPORT_OPS="$(figure "$OUT_DIR/import.txt" import_orders_per_sec)"
    target_at_most import import_peak_rss_mb "$TARGET_IMPORT_RSS_MB"
}

# pgbench's figure: from this run, else from the last one kept in $OUT_DIR (said on stderr).
pgbench_tps() {
    local tps=$PGBENCH_TPS saved="$OUT_DIR/pgbench-tpcb.txt"
    if [[ -z $tps && -s $saved ]]; then
        tps="$(sed -nE 's/^tps = ([0-9.]+) \((without initial connection time|excluding connections establishing)\).*/\1/p' "$saved")"
        [[ -z $tps ]] || log "pgbench did not run now; using the last pgbench figure from $saved ($tps tps)"
    fi
    printf '%s\n' "$tps"
}

# Prints `<name>=<value / pgbench tps>` and `<target name>=<target>`, with $1 the figure's name,
# $2 its value, $3 the ratio's name, $4 the target's name and $5 the target (a lower bound).
report_ratio() {
    local what=$1 value=$2 name=$3 target_name=$4 target=$5 tps ratio
    tps="$(pgbench_tps)"
    [[ -n $tps ]] || {
        log "no pgbench figure: run the pgbench section too for $name"
        return 0
    }
    ratio="$(awk -v a="$value" -v b="$tps" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')"
    printf '%s=%s\n' "$name" "$ratio"
    printf '%s=%s\n' "$target_name" "$target"
    log "$what $value / pgbench_tpcb_tps $tps = $ratio; target >= $target: $(at_least "$ratio" "$target")"
}

# The ratios to pgbench of order placement, of settle (with the default fill model) and of the
# import, when the figures are known.
report_ratios() {
    [[ -n $PLACE_TPS || -n $SETTLE_FPS || -n $IMPORT_OPS ]] || return 0
    section "summary"
    [[ -z $PLACE_TPS ]] || report_ratio place_order_tps "$PLACE_TPS" \
        place_order_to_pgbench_ratio place_order_to_pgbench_target "$TARGET_PLACE_RATIO"
    [[ -z $SETTLE_FPS ]] || report_ratio settle_fills_per_sec "$SETTLE_FPS" \
        settle_to_pgbench_ratio settle_to_pgbench_target "$TARGET_SETTLE_RATIO"
    [[ -z $IMPORT_OPS ]] || report_ratio import_orders_per_sec "$IMPORT_OPS" \
        import_to_pgbench_ratio import_to_pgbench_target "$TARGET_IMPORT_RATIO"
}

# Sections run by default, in order.
readonly ALL_SECTIONS=(pgbench place_orders settle crawl portfolio snapshot import)

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
    report_ratios
    if ((${#FAILED[@]})); then
        die "failed sections: ${FAILED[*]}"
    fi
}

main "$@"
