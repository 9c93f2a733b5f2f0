#!/usr/bin/env bash
# Seeds a database for CI or a demo: migrations, the simulated market, users and orders from
# CSV files. Safe to re-run: registered users are reported as such and keyed orders replay.
#
# Usage: scripts/seed.sh [USERS.csv] [ORDERS.csv]
#   defaults: scripts/seed/users.csv and scripts/seed/orders.csv
# Environment: DATABASE_URL (else scripts/db.sh provides one); ASCEND_NOW (default: a session
# time, 2026-11-24 10:00 KST, so market orders fill). The database's clock is made simulated
# (seeded data is a fixture, not live trading); run it as an operator (the schema's owner).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
users=${1:-scripts/seed/users.csv}
orders=${2:-scripts/seed/orders.csv}
DATABASE_URL=${DATABASE_URL:-$(scripts/db.sh)}
export DATABASE_URL
export ASCEND_NOW=${ASCEND_NOW:-"2026-11-24 10:00"}
cargo build --quiet --bin ascend
# Where cargo put it: target/, or CARGO_TARGET_DIR (or a configured target-dir) when set.
bin="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/debug/ascend"
ascend() { "$bin" "$@"; }

ascend db migrate >/dev/null
env -u ASCEND_NOW "$bin" admin settings set clock simulated >/dev/null
ascend crawl-stocks --source sim:7 --history 20 --format json >/dev/null
status=0
ascend user register --file "$users" || status=$?
ascend place-order --file "$orders" || status=$?
ascend audit
exit "$status"
