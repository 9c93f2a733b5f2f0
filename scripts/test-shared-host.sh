#!/usr/bin/env bash
# The shared-host mode with real Unix accounts: installs ascend with scripts/install-shared.sh
# under a temporary prefix, creates two traders and an operator, and checks that trader A
# cannot read the environment file, see or cancel B's orders, act for B, change a setting or
# the clock, or have the program read a file for them, while the operator can.
#
# Usage (as root; installs sudo with apt-get when missing): scripts/test-shared-host.sh [BINARY]
#   BINARY   the built program (default target/debug/ascend)
# Environment: DATABASE_URL (a server on which it creates, then drops, a database of its own).
# Everything it creates (accounts, group, sudoers rule, files, database, role) is removed on exit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() {
    echo "test-shared-host.sh: FAILED: $*" >&2
    exit 1
}
[[ $(id -u) -eq 0 ]] || { echo "test-shared-host.sh: needs root (it creates Unix accounts)" >&2; exit 1; }
[[ -n "${DATABASE_URL:-}" ]] || { echo "test-shared-host.sh: DATABASE_URL is not set" >&2; exit 1; }
binary=$(realpath "${1:-target/debug/ascend}")
[[ -x "$binary" ]] || { echo "test-shared-host.sh: $binary is missing (cargo build --bin ascend)" >&2; exit 1; }
if ! command -v sudo >/dev/null || ! command -v visudo >/dev/null; then
    echo "installing sudo" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sudo >/dev/null
fi

tag=$$
svc=ascsvc$tag
group=asctr$tag
ta=ascta$tag
tb=asctb$tag
op=ascop$tag
db=ascend_shared_$tag
oprole=ascop_$tag
root=$(mktemp -d /tmp/ascend-shared.XXXXXX)
chmod 0755 "$root"
prefix=$root/prefix
etc=$root/etc
sudoers=/etc/sudoers.d/ascend-test-$tag

base="${DATABASE_URL%%\?*}"
query=""
[[ "$DATABASE_URL" == *\?* ]] && query="?${DATABASE_URL#*\?}"
server="${base%/*}"
admin_url="$server/postgres$query"
service_url="$server/$db$query"
# The operator's own role, on the same server: postgres://ROLE:PASSWORD@HOST…
scheme="${server%%://*}://"
rest="${server#*://}"
hostpart="${rest#*@}"
operator_url="${scheme}${oprole}:operator-pw-1@${hostpart}/$db$query"

# A server reached through a unix socket in a private directory (scripts/db.sh's cluster is
# 0700): the test's accounts may pass through it to the socket while the test runs (o+x on the
# directory and its parent, as a system server's /run/postgresql allows), and the modes are
# put back afterwards.
socket_dir=""
if [[ "$query" =~ [?\&]host=(/[^\&]*) ]]; then
    socket_dir="${BASH_REMATCH[1]}"
fi
opened=()
open_socket_dir() {
    local d
    for d in "$(dirname "$socket_dir")" "$socket_dir"; do
        if [[ -d "$d" ]]; then
            opened+=("$(stat -c '%a' "$d") $d")
            chmod o+x "$d"
        fi
    done
}

cleanup() {
    set +e
    for entry in "${opened[@]}"; do chmod "${entry%% *}" "${entry#* }"; done
    rm -f "$sudoers"
    for u in "$ta" "$tb" "$op" "$svc"; do userdel "$u" >/dev/null 2>&1; done
    groupdel "$group" >/dev/null 2>&1
    rm -rf "$root"
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $db" -c "DROP ROLE IF EXISTS $oprole" >/dev/null 2>&1
}
trap cleanup EXIT

psql -q "$admin_url" -c "CREATE DATABASE $db" >/dev/null
[[ -n "$socket_dir" ]] && open_socket_dir

# Install for the shared host, under the temporary prefix.
ASCEND_SERVICE_USER=$svc ASCEND_TRADERS_GROUP=$group ASCEND_PREFIX=$prefix ASCEND_ETC=$etc \
    ASCEND_SUDOERS=$sudoers DATABASE_URL=$service_url bash scripts/install-shared.sh "$binary"
for u in "$ta" "$tb" "$op"; do useradd -M -s /bin/sh "$u"; done
usermod -aG "$group" "$ta"
usermod -aG "$group" "$tb"

checks=0
pass() {
    checks=$((checks + 1))
    echo "ok: $*" >&2
}
# as USER [STDIN] -- ARGS…: runs the traders' `ascend` as USER; sets $out, $err and $rc.
as() {
    local user=$1 input=$2
    shift 3
    local q
    q=$(printf ' %q' "$@")
    rc=0
    out=$(printf '%s' "$input" | su -s /bin/sh "$user" -c "cd / && $prefix/bin/ascend$q" 2>"$root/err") || rc=$?
    err=$(cat "$root/err")
}
# operator ARGS…: the operator's own role, running the program directly.
operator() {
    local q
    q=$(printf ' %q' "$@")
    rc=0
    out=$(su -s /bin/sh "$op" -c "cd / && DATABASE_URL=$(printf '%q' "$operator_url") $prefix/lib/ascend/ascend$q" 2>"$root/err") || rc=$?
    err=$(cat "$root/err")
}
expect() {
    local want=$1 what=$2
    [[ "$rc" == "$want" ]] || die "$what: exit $rc, expected $want; stderr: $err"
}

# The environment file is the service account's alone.
[[ $(stat -c '%a %U' "$etc/ascend.env") == "600 $svc" ]] || die "ascend.env is $(stat -c '%a %U' "$etc/ascend.env")"
if su -s /bin/sh "$ta" -c "cat $etc/ascend.env" >/dev/null 2>&1; then die "a trader read ascend.env"; fi
pass "trader A cannot read the environment file (0600, $svc)"

# The service account (as the timers run it): migrate, make the operator role, crawl.
svc_run() { su -s /bin/sh "$svc" -c "cd / && $prefix/bin/ascend $*" >/dev/null; }
svc_run db migrate
psql -q "$service_url" \
    -c "DO \$\$ BEGIN CREATE ROLE ascend_operator NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END \$\$" \
    -c "GRANT ALL ON ALL TABLES IN SCHEMA public TO ascend_operator" \
    -c "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ascend_operator" \
    -c "CREATE ROLE $oprole LOGIN PASSWORD 'operator-pw-1' IN ROLE ascend_operator" >/dev/null
svc_run crawl-stocks --source sim:7 --any-day
pass "the service account migrates and crawls"

# Two traders sign up as themselves.
as "$ta" $'password-a-1\n' -- user register --email a@shared.example --name A --password-stdin
expect 0 "trader A registers"
as "$tb" $'password-b-1\n' -- user register --email b@shared.example --name B --password-stdin
expect 0 "trader B registers"
as "$ta" "" -- whoami -f json
expect 0 "trader A whoami"
[[ "$out" == *'"a@shared.example"'* ]] || die "whoami of A: $out"
mapped=$(psql -qtA "$service_url" -c "SELECT string_agg(unix_user, ',' ORDER BY id) FROM users")
[[ "$mapped" == "$ta,$tb" ]] || die "unix accounts: $mapped"
pass "each trader is their Unix account ($mapped)"

# B places a resting order; A can neither see nor cancel it, nor act for B.
as "$tb" "" -- stock show 005930 --offline -f json
expect 0 "stock show"
price=$(printf '%s' "$out" | sed -n 's/.*"price": *"\([0-9]*\)".*/\1/p' | head -n1)
limit=$(((price * 90 / 100) / 100 * 100))
as "$tb" "" -- place-order 005930 buy 1 --limit "$limit" --tif gtc -f json
expect 0 "trader B places an order"
order=$(printf '%s' "$out" | grep -o '"id": *[0-9]*' | head -n1 | grep -o '[0-9]*$')
as "$ta" "" -- orders -f json
expect 0 "trader A lists orders"
[[ "$out" != *"\"id\":$order,"* ]] || die "A sees B's order: $out"
pass "trader A does not see B's order #$order"
as "$ta" "" -- cancel "$order"
expect 3 "trader A cancels B's order"
as "$ta" "" -- --user b@shared.example orders
expect 4 "trader A acts for B"
[[ "$err" == *"is a trader"* ]] || die "$err"
as "$ta" "" -- --user b@shared.example cancel "$order"
expect 4 "trader A cancels as B"
pass "trader A cannot cancel B's order or act for B (exit 3, 4)"

# Rules and clock are the operator's.
operator admin settings set clock simulated
expect 0 "the operator makes the clock simulated"
as "$ta" "" -- admin settings set commission_pct 0
expect 4 "trader A changes the commission"
as "$ta" "" -- admin settings set clock real
expect 4 "trader A changes the clock"
as "$ta" "" -- --now "2026-12-01 10:00" orders
expect 4 "trader A sets the time"
as "$ta" "" -- settle
expect 4 "trader A runs settle"
pass "trader A cannot change a setting, the clock or run a batch job (exit 4)"

# Files are not read or written for traders: not even the environment file through a flag.
as "$ta" "" -- place-order --file "$etc/ascend.env"
expect 4 "trader A hands a file to place-order"
[[ "$err" != *DATABASE_URL* && "$err" != *postgres* ]] || die "a file's content leaked: $err"
as "$ta" "" -- stock load "$etc/ascend.env"
expect 4 "trader A loads stocks"
as "$ta" "" -- assets --chart "$etc/ascend.env"
expect 4 "trader A writes a chart"
as "$ta" "" -- portfolio --source "replay:$etc"
expect 4 "trader A replays a directory"
as "$ta" $'password-a-1\n' -- login --email a@shared.example --password-stdin
expect 3 "trader A logs in"
pass "no file is read or written for a trader, and there is no session to steal"

# The operator can.
operator admin settings set commission_pct 0.02
expect 0 "the operator sets the commission"
operator --user b@shared.example orders -f json
expect 0 "the operator lists B's orders"
[[ "$out" == *"\"id\":$order,"* ]] || die "the operator does not see B's order: $out"
by=$(psql -qtA "$service_url" -c "SELECT set_by FROM settings WHERE name = 'commission_pct' ORDER BY id DESC LIMIT 1")
[[ "$by" == "$oprole" ]] || die "set_by: $by"
pass "the operator sets the commission (recorded as $by) and acts for B"
as "$tb" "" -- cancel "$order"
expect 0 "trader B cancels their own order"
pass "trader B cancels their own order"

echo "test-shared-host.sh: $checks checks passed" >&2
