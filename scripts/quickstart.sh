#!/usr/bin/env bash
# The main job, offline, end to end: PostgreSQL (started if none answers), migrations, the
# simulated KRX market, a demo user, market and limit orders, then several simulated trading
# days run the way the timers run them (crawl and settle during the session, settle --close
# after it, snapshot after the close), and finally the portfolio and the asset chart.
#
# Usage: scripts/quickstart.sh
# Works in its own database, ascend_quickstart, recreated on every run. Writes the chart to
# target/quickstart/assets.png. Needs nothing beyond Rust: Debian's postgresql is installed by
# scripts/db.sh when missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n== %s\n' "$*"; }

server_url="$(scripts/db.sh)"
base="${server_url%%\?*}"
query=""
[[ "$server_url" == *\?* ]] && query="?${server_url#*\?}"
export DATABASE_URL="${base%/*}/ascend_quickstart${query}"
admin_url="${base%/*}/postgres${query}"
psql -q "$admin_url" -c 'DROP DATABASE IF EXISTS ascend_quickstart' -c 'CREATE DATABASE ascend_quickstart' >/dev/null

echo "building ascend..." >&2
cargo build --quiet --bin ascend
# Where cargo put it: target/, or CARGO_TARGET_DIR (or a configured target-dir) when set.
bin="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/ascend"
ascend() { "$bin" "$@"; }

out_dir=target/quickstart
mkdir -p "$out_dir"
config_dir="$(mktemp -d)"
trap 'rm -rf "$config_dir"' EXIT
jobs_log="$out_dir/jobs.log"
: >"$jobs_log"
# The batch jobs log to $jobs_log, as they would to the journal under systemd.
job() { ascend "$@" --format json >/dev/null 2>>"$jobs_log" || { echo "quickstart: 'ascend $*' failed:" >&2; tail -n 5 "$jobs_log" >&2; exit 1; }; }
export ASCEND_CONFIG_DIR="$config_dir"
# The walk-through shows tables, as on a terminal, though its output goes to a file.
export ASCEND_FORMAT=table
seed=7
market="sim:$seed"

ascend db migrate >/dev/null
# A simulated clock: the walk-through sets the time of each step with ASCEND_NOW.
ascend admin settings set clock simulated >/dev/null

# Day 1: crawl the market with 60 days of history, sign up, trade.
export ASCEND_NOW="2026-11-16 09:05"
say "$ASCEND_NOW KST: crawl the simulated market ($market) with 60 days of bars"
job crawl-stocks --source "$market" --history 60
ascend index

say "sign up and log in"
echo 'demo-password-1' | ascend user register --email demo@ascend.example --name "데모 사용자" --password-stdin >/dev/null
echo 'demo-password-1' | ascend login --email demo@ascend.example --password-stdin >/dev/null
ascend whoami

say "orders: market buys fill at once, limit orders rest"
ascend place-order 005930 buy 30 --market --key qs-1 --format json >/dev/null
ascend place-order 000660 buy 5 --market --key qs-2 --format json >/dev/null
ascend place-order 035420 buy 10 --market --key qs-3 --format json >/dev/null
# A 2x leveraged ETF: a 5-won tick, a band of twice +-30%, and no transaction tax on its sale.
ascend place-order 122630 buy 50 --market --key qs-etf-buy --format json >/dev/null
# Rest below / above the market: settle fills them when the price crosses.
p005930=$(ascend stock show 005930 --offline --format json | sed -n 's/.*"price": *"\([0-9]*\)".*/\1/p' | head -n1)
ascend place-order 005930 buy 20 --limit "$(( (p005930 * 97 / 100) / 100 * 100 ))" --tif gtc --key qs-4 --format json >/dev/null
ascend place-order 005930 sell 10 --limit "$(( (p005930 * 103 / 100) / 100 * 100 ))" --tif gtc --key qs-5 --format json >/dev/null
ascend orders

# Trading days, as the timers run them.
for day in 2026-11-16 2026-11-17 2026-11-18 2026-11-19 2026-11-20 2026-11-23 2026-11-24; do
    for t in 09:05 10:30 12:00 13:30 15:00; do
        export ASCEND_NOW="$day $t"
        job crawl-stocks --source "$market"
        job settle
        if [[ $day == 2026-11-20 && $t == 10:30 ]]; then
            ascend place-order 122630 sell 50 --market --key qs-etf-sell --format json >/dev/null
        fi
    done
    # 16:40, as the second settle --close timer: after the close of every day, the CSAT day's
    # late session (10:00-16:30 on 2026-11-19) included.
    export ASCEND_NOW="$day 16:40"
    job settle --close
    export ASCEND_NOW="$day 16:50"
    job crawl-stocks --source "$market" --history 1
    job snapshot
    echo "$day: crawled, settled, closed, snapshot taken"
done

export ASCEND_NOW="2026-11-24 16:20"
say "log in again (sessions last 7 days)"
echo 'demo-password-1' | ascend login --email demo@ascend.example --password-stdin >/dev/null
say "orders after a week"
ascend orders
say "fills"
ascend trades
say "portfolio (live quotes from $market)"
ascend portfolio --source "$market"
say "assets"
ascend assets --history --chart "$out_dir/assets.png"
say "ledger audit"
ascend audit
echo
echo "chart: $out_dir/assets.png"
