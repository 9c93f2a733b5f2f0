#!/usr/bin/env bash
# Installs ascend for a shared host: a trading club, a class, a contest. Traders run `ascend`
# with a shell of their own but never see the database credential, never act for each other and
# never change the rules or the clock:
#
#   - a system account (default `ascend`) alone can read the environment file holding
#     DATABASE_URL (mode 0600);
#   - members of a group (default `ascend-traders`) may run the program as that account through
#     sudo, which clears their environment; the program then takes the trader's identity from
#     the invoking Unix account (SUDO_USER) and refuses --user, --now, admin, bulk files, file
#     output and the batch jobs, whatever the database role can do;
#   - operators are Postgres roles (the schema's owner, or members of `ascend_operator`) that
#     run the program itself (LIBDIR/ascend) with a DATABASE_URL of their own; the service
#     account is one too, for the timers (scripts/install-systemd.sh).
#
# Usage (as root): DATABASE_URL=postgres://ascend:SECRET@db/ascend scripts/install-shared.sh [BINARY]
#   BINARY   the built program (default target/release/ascend; build it first, not as root)
# Environment (defaults in brackets):
#   DATABASE_URL          the service account's database URL; required unless the environment
#                         file exists already, which is then kept
#   ASCEND_SERVICE_USER   [ascend]          the system account that runs the program
#   ASCEND_TRADERS_GROUP  [ascend-traders]  who may trade (add people with `usermod -aG`)
#   ASCEND_PREFIX         [/usr/local]      BINDIR = PREFIX/bin (the traders' `ascend`),
#                                           LIBDIR = PREFIX/lib/ascend (the program)
#   ASCEND_ETC            [/etc/ascend]     where ascend.env lives
#   ASCEND_SUDOERS        [/etc/sudoers.d/ascend]
#
# The database server must ask for a password (or use peer authentication): with `trust` on
# its TCP or socket entries any local account could connect as the service role directly.
# Safe to run again: existing accounts, group and environment file are kept.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() {
    echo "install-shared.sh: $*" >&2
    exit 1
}

binary=${1:-target/release/ascend}
svc=${ASCEND_SERVICE_USER:-ascend}
group=${ASCEND_TRADERS_GROUP:-ascend-traders}
prefix=${ASCEND_PREFIX:-/usr/local}
etc=${ASCEND_ETC:-/etc/ascend}
sudoers=${ASCEND_SUDOERS:-/etc/sudoers.d/ascend}
bindir=$prefix/bin
libdir=$prefix/lib/ascend

[[ $(id -u) -eq 0 ]] || die "run as root"
[[ -x "$binary" ]] || die "$binary is not an executable: build it first (cargo build --release --bin ascend)"
command -v sudo >/dev/null || die "sudo is not installed (apt-get install sudo)"
command -v visudo >/dev/null || die "visudo is not installed (it comes with sudo)"
for name in "$svc" "$group"; do
    [[ "$name" =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "'$name' is not a valid account or group name"
done
for dir in "$prefix" "$etc"; do
    [[ "$dir" == /* && "$dir" != *[[:space:]\'\"\\]* ]] || die "'$dir' must be an absolute path without spaces or quotes"
done

id "$svc" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$svc"
getent group "$group" >/dev/null || groupadd "$group"

install -d -m 0755 "$bindir" "$libdir"
install -m 0755 -o root -g root "$binary" "$libdir/ascend"

# The environment file: readable by the service account alone.
install -d -m 0755 -o root -g root "$etc"
if [[ ! -f "$etc/ascend.env" ]]; then
    [[ -n "${DATABASE_URL:-}" ]] || die "DATABASE_URL is not set: give the service account's database URL"
    [[ "$DATABASE_URL" != *\'* && "$DATABASE_URL" != *$'\n'* ]] || die "DATABASE_URL must not hold a quote or a newline"
    umask 077
    {
        echo "# The service account's environment (mode 0600: it holds the database URL)."
        echo "DATABASE_URL='$DATABASE_URL'"
        echo "ASCEND_SHARED_HOST=1"
        echo "ASCEND_LOG=info"
    } >"$etc/ascend.env"
fi
chown "$svc:$svc" "$etc/ascend.env"
chmod 0600 "$etc/ascend.env"

# What sudo runs: reads the environment file, then the program. Root-owned, so no trader and
# not the service account can change it.
cat >"$libdir/ascend-run" <<EOF
#!/bin/sh
# Runs ascend with the service account's environment (started through sudo by a trader, or
# directly by the service account's timers).
set -a
. '$etc/ascend.env'
set +a
exec '$libdir/ascend' "\$@"
EOF
chown root:root "$libdir/ascend-run"
chmod 0755 "$libdir/ascend-run"

# What traders type.
cat >"$bindir/ascend" <<EOF
#!/bin/sh
# ascend on a shared host: runs the program as $svc through sudo, as the invoking trader.
if [ "\$(id -un)" = '$svc' ]; then
    exec '$libdir/ascend-run' "\$@"
fi
exec sudo -n -u '$svc' -- '$libdir/ascend-run' "\$@"
EOF
chown root:root "$bindir/ascend"
chmod 0755 "$bindir/ascend"

# Members of the group may run exactly that, as the service account, with a clean environment.
rule=$(mktemp)
trap 'rm -f "$rule"' EXIT
cat >"$rule" <<EOF
# ascend: traders run the program as $svc (the environment is reset: they pass nothing but
# arguments and stdin).
Defaults!$libdir/ascend-run env_reset
%$group ALL=($svc) NOPASSWD: $libdir/ascend-run
EOF
visudo -cqf "$rule" || die "the sudoers rule does not check"
install -m 0440 -o root -g root "$rule" "$sudoers"

echo "installed: $bindir/ascend (traders: members of $group), $libdir/ascend (operators), $etc/ascend.env (readable by $svc only)" >&2
