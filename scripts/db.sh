#!/usr/bin/env bash
# Make a PostgreSQL database available and print its URL on stdout.
#
# Usage:
#   scripts/db.sh          print a working database URL (start a private cluster if needed)
#   scripts/db.sh stop     stop the private cluster, if it runs
#   scripts/db.sh status   tell (on stderr) whether the private cluster runs; exit 0 if it does
#
# Only the URL goes to stdout, so `export DATABASE_URL="$(scripts/db.sh)"` works; all logs go
# to stderr.
#
# 1. If DATABASE_URL is set and answers, it is printed unchanged. "Answers" means
#    `psql "$DATABASE_URL" -c 'select 1'` succeeds (stricter: the database and the role must
#    exist); pg_isready is used only when psql is not installed.
# 2. Otherwise a private, throw-away cluster is started (or reused if it already runs) in
#    <repo>/.pgdata/ (git-ignored). It listens on a unix socket only, inside that folder, with
#    trust authentication for the bootstrap superuser `postgres`, and gets a database `ascend`.
#    The URL looks like postgres://postgres@localhost:55432/ascend?host=/repo/.pgdata/run
#    (sqlx 0.8 and libpq both read `host=/dir` as a socket directory).
#
# initdb and pg_ctl refuse to run as root. As root, the cluster folder is owned by the OS user
# `postgres` (ASCEND_PG_OSUSER) and the server tools run through `runuser -u postgres --`. That
# user must be able to reach the repo folder; when it cannot (e.g. a clone under /root, mode
# 0700), or when the socket path would be too long for a unix socket (107 bytes) or the path
# holds characters unsafe for pg_ctl's shell command, the cluster lives in
# /tmp/ascend-pg-<uid>-<checksum of the repo path> instead. The choice is deterministic, so
# later runs and `stop` find the same cluster.
#
# Environment:
#   DATABASE_URL       used as is when it answers
#   ASCEND_PG_PORT     port of the private cluster (default 55432). Only a unix socket is opened;
#                      the port just names the socket file, so it never clashes with TCP servers.
#   ASCEND_PG_DIR      folder of the private cluster (default: see above)
#   ASCEND_PG_OSUSER   OS user owning the cluster when run as root (default: postgres)
#
# If initdb/pg_ctl are missing, Debian's `postgresql` package is installed with apt-get (as
# root, or with passwordless sudo). On Debian that may also create and start the packaged
# cluster on port 5432; it is left alone, the private cluster is still used.
set -euo pipefail

# Everything printed by this script or its children goes to stderr; the URL goes to fd 3.
exec 3>&1 1>&2

readonly DB_NAME=ascend
readonly DB_USER=postgres

log() { printf 'db.sh: %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
readonly ROOT
PORT="${ASCEND_PG_PORT:-55432}"
if ! [[ $PORT =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
    die "ASCEND_PG_PORT must be a port number, got '$PORT'"
fi
readonly PORT
OSUSER="${ASCEND_PG_OSUSER:-postgres}"
readonly OSUSER

INITDB="" PG_CTL="" PG_ISREADY="" PSQL=""

# --- finding and installing PostgreSQL ---------------------------------------------------

# Prints the newest /usr/lib/postgresql/<version>/bin holding $1, if any.
versioned_bin_dir() {
    local tool=$1 dir
    # shellcheck disable=SC2012 # directory names are plain version numbers
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x $dir/$tool ]]; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

# Sets $1 to the path of tool $2 (PATH first, then /usr/lib/postgresql/*/bin), or to "".
find_tool() {
    local -n out=$1
    local tool=$2 dir
    out=""
    if out="$(command -v "$tool")"; then
        return 0
    fi
    if dir="$(versioned_bin_dir "$tool")"; then
        out="$dir/$tool"
        return 0
    fi
    out=""
    return 1
}

find_client_tools() {
    find_tool PSQL psql || true
    find_tool PG_ISREADY pg_isready || true
}

find_server_tools() {
    # Take initdb and pg_ctl from the same installation.
    local dir
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        INITDB="$(command -v initdb)"
        PG_CTL="$(command -v pg_ctl)"
    elif dir="$(versioned_bin_dir initdb)" && [[ -x $dir/pg_ctl ]]; then
        INITDB="$dir/initdb"
        PG_CTL="$dir/pg_ctl"
    else
        INITDB="" PG_CTL=""
        return 1
    fi
}

install_postgresql() {
    local -a sudo=()
    if ((EUID != 0)); then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo=(sudo -n)
        else
            die "PostgreSQL is not installed and I am not root: install it (apt-get install postgresql) or set DATABASE_URL"
        fi
    fi
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and apt-get is missing: install PostgreSQL or set DATABASE_URL"
    log "PostgreSQL not found; installing it with apt-get (takes a minute)"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends postgresql </dev/null
}

ensure_client_tools() {
    find_client_tools
    if [[ -z $PSQL && -z $PG_ISREADY ]]; then
        install_postgresql
        find_client_tools
    fi
    [[ -n $PSQL || -n $PG_ISREADY ]] || die "psql/pg_isready still not found after installing postgresql"
}

have_all_tools() {
    find_server_tools && find_tool PSQL psql && find_tool PG_ISREADY pg_isready
}

ensure_all_tools() {
    have_all_tools || install_postgresql
    have_all_tools || die "initdb/pg_ctl/psql/pg_isready not found (looked in PATH and /usr/lib/postgresql/*/bin)"
}

# --- checking DATABASE_URL ----------------------------------------------------------------

url_answers() {
    local url=$1
    if [[ -n $PSQL ]]; then
        PGCONNECT_TIMEOUT=5 "$PSQL" "$url" -X -q -A -t -c 'select 1' >/dev/null 2>&1
    else
        "$PG_ISREADY" -q -t 5 -d "$url" >/dev/null 2>&1
    fi
}

# --- where the private cluster lives -------------------------------------------------------

is_root() { ((EUID == 0)); }

# Runs a command as the cluster's owner, from / (the owner may not be able to read the cwd).
as_owner() {
    if is_root; then
        (cd / && runuser -u "$OSUSER" -- "$@")
    else
        (cd / && "$@")
    fi
}

fallback_base() {
    local sum
    sum="$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
    printf '/tmp/ascend-pg-%s-%s\n' "$(id -u)" "$sum"
}

# Succeeds if folder $1 would work as the cluster folder.
base_is_usable() {
    local base=$1 sock
    local LC_ALL=C # ${#var} counts bytes
    # pg_ctl runs the server through /bin/sh; keep paths free of quotes, $, `, \ and such.
    if ! [[ $base =~ ^/[A-Za-z0-9/._+,@:%=~\ -]*$ ]]; then
        log "path '$base' holds characters unsafe for pg_ctl"
        return 1
    fi
    sock="$base/run/.s.PGSQL.$PORT"
    if ((${#sock} > 107)); then
        log "socket path '$sock' is longer than 107 bytes"
        return 1
    fi
    if is_root && ! as_owner test -x "$(dirname "$base")"; then
        log "user '$OSUSER' cannot reach '$(dirname "$base")'"
        return 1
    fi
    return 0
}

# Prints the candidate cluster folders, preferred first.
candidate_bases() {
    if [[ -n ${ASCEND_PG_DIR:-} ]]; then
        printf '%s\n' "$ASCEND_PG_DIR"
    else
        printf '%s\n' "$ROOT/.pgdata" "$(fallback_base)"
    fi
}

choose_base() {
    local base
    while IFS= read -r base; do
        if base_is_usable "$base"; then
            printf '%s\n' "$base"
            return 0
        fi
        log "not using '$base'"
    done < <(candidate_bases)
    die "no usable folder for the private cluster (set ASCEND_PG_DIR)"
}

ensure_os_user() {
    is_root || return 0
    getent passwd "$OSUSER" >/dev/null && return 0
    log "creating system user '$OSUSER' to own the cluster"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$OSUSER"
}

# Creates folder $1 (mode 0700) owned by the cluster's owner; refuses one owned by someone else.
make_owned_dir() {
    local dir=$1 want
    if is_root; then want=$OSUSER; else want="$(id -un)"; fi
    if [[ -e $dir ]]; then
        [[ -d $dir ]] || die "'$dir' exists and is not a folder"
        [[ "$(stat -c %U "$dir")" == "$want" ]] || die "'$dir' is not owned by '$want'; remove it or set ASCEND_PG_DIR"
    elif is_root; then
        install -d -m 0700 -o "$OSUSER" -g "$(id -gn "$OSUSER")" "$dir"
    else
        install -d -m 0700 "$dir"
    fi
}

# Percent-encodes a socket folder for the URL's host= parameter.
urlencode() {
    local s=$1 out="" c i
    local LC_ALL=C
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9/._~-]) out+=$c ;;
            *) out+="$(printf '%%%02X' "'$c")" ;;
        esac
    done
    printf '%s' "$out"
}

running() { as_owner "$PG_CTL" status -D "$1/data" >/dev/null 2>&1; }

# --- commands ------------------------------------------------------------------------------

start_cluster() {
    ensure_all_tools
    ensure_os_user
    local base data sock logfile
    base="$(choose_base)"
    data="$base/data" sock="$base/run" logfile="$base/postgres.log"
    make_owned_dir "$base"
    make_owned_dir "$sock"

    # Serialize concurrent runs (e.g. test.sh and bench.sh started together).
    if command -v flock >/dev/null; then
        exec 9>>"$base/lock"
        flock -w 120 9 || die "timed out waiting for the lock on $base/lock"
    fi

    if [[ ! -s $data/PG_VERSION ]]; then
        log "initializing a private cluster in $data"
        # --no-locale: C collation, identical on every machine; UTF8 for Korean names.
        as_owner "$INITDB" -D "$data" -A trust -U "$DB_USER" -E UTF8 --no-locale >&2
    fi
    local have want
    have="$(cat "$data/PG_VERSION")"
    want="$("$PG_CTL" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/')"
    if [[ $have != "$want" ]]; then
        die "cluster in $data is PostgreSQL $have but pg_ctl is $want; run 'scripts/db.sh stop' and remove $base"
    fi

    if running "$base"; then
        log "reusing the private cluster already running in $data"
    else
        log "starting the private cluster in $data (socket $sock, port $PORT, log $logfile)"
        # Unix socket only; max_connections=200 because #[sqlx::test] runs tests in parallel,
        # each with its own pool. fsync stays on (the default): scripts/bench.sh compares our
        # figures with pgbench on this same server, so it must be configured like a real one.
        # shared_buffers follows PostgreSQL's own sizing advice, a quarter of the memory, here
        # capped at 1 GB (the default of 128 MB is sized to start anywhere, not to serve).
        local mem_mb shared_mb
        mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null || echo 0)
        shared_mb=$((mem_mb / 4))
        ((shared_mb <= 1024)) || shared_mb=1024
        ((shared_mb >= 128)) || shared_mb=128
        local opts="-c listen_addresses='' -k '$sock' -p $PORT -c max_connections=200 -c shared_buffers=${shared_mb}MB"
        # 3>&- 9>&-: the server must not inherit our stdout (a `$(scripts/db.sh)` would wait
        # for it forever) nor the lock.
        if ! as_owner "$PG_CTL" start -D "$data" -l "$logfile" -w -t 60 -o "$opts" >&2 3>&- 9>&-; then
            tail -n 30 "$logfile" >&2 || true
            die "the private cluster did not start (log: $logfile)"
        fi
    fi

    local i
    for ((i = 0; i < 60; i++)); do
        "$PG_ISREADY" -q -h "$sock" -p "$PORT" && break
        sleep 1
    done
    "$PG_ISREADY" -q -h "$sock" -p "$PORT" || die "the private cluster does not answer (log: $logfile)"

    local -a psql=("$PSQL" -X -q -A -t -v ON_ERROR_STOP=1 -h "$sock" -p "$PORT" -U "$DB_USER" -d postgres)
    if [[ "$("${psql[@]}" -c "select 1 from pg_database where datname = '$DB_NAME'")" != 1 ]]; then
        log "creating database $DB_NAME"
        "${psql[@]}" -c "create database $DB_NAME"
    fi

    printf 'postgres://%s@localhost:%s/%s?host=%s\n' "$DB_USER" "$PORT" "$DB_NAME" "$(urlencode "$sock")" >&3
}

# Prints the folders of private clusters that exist.
existing_bases() {
    local base
    while IFS= read -r base; do
        if [[ -s $base/data/PG_VERSION ]]; then printf '%s\n' "$base"; fi
    done < <(candidate_bases)
}

stop_cluster() {
    local base found=0
    while IFS= read -r base; do
        found=1
        find_server_tools || die "pg_ctl not found"
        if running "$base"; then
            log "stopping the private cluster in $base/data"
            as_owner "$PG_CTL" stop -D "$base/data" -m fast -w -t 60 >&2
        else
            log "the private cluster in $base/data is not running"
        fi
    done < <(existing_bases)
    ((found)) || log "no private cluster found"
}

status_cluster() {
    local base rc=1
    while IFS= read -r base; do
        find_server_tools || die "pg_ctl not found"
        if running "$base"; then
            log "running: $base/data"
            rc=0
        else
            log "stopped: $base/data"
        fi
    done < <(existing_bases)
    return "$rc"
}

main() {
    case "${1:-start}" in
        start)
            if [[ -n ${DATABASE_URL:-} ]]; then
                ensure_client_tools
                if url_answers "$DATABASE_URL"; then
                    log "using DATABASE_URL from the environment"
                    printf '%s\n' "$DATABASE_URL" >&3
                    return 0
                fi
                log "DATABASE_URL is set but does not answer; using a private cluster"
            fi
            start_cluster
            ;;
        stop) stop_cluster ;;
        status) status_cluster ;;
        -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
        *) die "unknown command '$1' (expected: start, stop, status)" ;;
    esac
}

main "$@"
