#!/usr/bin/env bash
# The main job, end to end and offline: a database, migrations, stocks, a user, orders placed
# and settled over a trading day, then the orders, the fills and the ledger audit.
#
# Usage: scripts/quickstart.sh
# Uses DATABASE_URL when it answers, else starts a private cluster (scripts/db.sh). Works in
# its own database, `ascend_quickstart`, recreated on every run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

server_url="$(scripts/db.sh)"
# The same server, database ascend_quickstart.
base="${server_url%%\?*}"
query=""
[[ "$server_url" == *\?* ]] && query="?${server_url#*\?}"
export DATABASE_URL="${base%/*}/ascend_quickstart${query}"
admin_url="${base%/*}/postgres${query}"
psql -q "$admin_url" -c 'DROP DATABASE IF EXISTS ascend_quickstart' -c 'CREATE DATABASE ascend_quickstart' >/dev/null

say "building ascend"
cargo build --quiet --bin ascend
ascend() { target/debug/ascend "$@"; }

config_dir="$(mktemp -d)"
trap 'rm -rf "$config_dir"' EXIT
export ASCEND_CONFIG_DIR="$config_dir"

say "migrations"
ascend db migrate

export ASCEND_NOW="2026-11-24 09:05"
say "stock prices at $ASCEND_NOW KST"
ascend stock load fixtures/stocks.csv
ascend stock list

say "register and log in"
echo 'demo-password-1' | ascend user register --email demo@ascend.example --name "데모 사용자" --password-stdin
echo 'demo-password-1' | ascend login --email demo@ascend.example --password-stdin
ascend whoami

say "orders at $ASCEND_NOW: a market buy fills at once; limit orders rest"
ascend place-order 005930 buy 20 --market --key quickstart-1
ascend place-order 000660 buy 5 --limit 176000 --tif gtc
ascend place-order 005930 sell 8 --limit 56800
ascend place-order 247540 buy 10 --limit 90000
say "the same idempotency key again: the original order comes back, nothing is written"
ascend place-order 005930 buy 20 --market --key quickstart-1

export ASCEND_NOW="2026-11-24 10:30"
say "new prices at $ASCEND_NOW; settle fills the crossed orders"
ascend stock load fixtures/stocks-1030.csv
ascend settle
say "settle again: nothing left to fill"
ascend settle

export ASCEND_NOW="2026-11-24 15:40"
say "after the close ($ASCEND_NOW): settle --close expires DAY orders"
ascend settle --close

say "orders"
ascend orders
say "fills"
ascend trades
say "ledger audit"
ascend audit
