#!/usr/bin/env bash
# The project's test command (the README's; CI runs it through .ci/run).
#
# Usage:
#   scripts/test.sh                 database, fmt check, clippy -D warnings, then every test once,
#                                   under coverage (cargo tarpaulin) with a coverage gate
#   scripts/test.sh --no-coverage   same, but the tests run with plain `cargo test --all-targets`
#   scripts/test.sh [...] -- ARGS   pass ARGS on to cargo tarpaulin / cargo test
#
# Environment:
#   DATABASE_URL          used if it answers, else a private cluster is started (scripts/db.sh);
#                         #[sqlx::test] creates and drops its own databases on that server
#   ASCEND_COVERAGE_MIN   minimum line coverage in percent (default 85)
#
# Exits non-zero as soon as a step fails. The test runner's output is also saved to
# target/test-output.log, and its summary lines are repeated at the end.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*" >&2; }
die() {
    printf 'test.sh: error: %s\n' "$*" >&2
    exit 1
}

coverage=1
extra=()
while (($#)); do
    case $1 in
        --no-coverage) coverage=0 ;;
        --) shift; extra=("$@"); break ;;
        -h | --help)
            sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
min_coverage="${ASCEND_COVERAGE_MIN:-85}"
log_file=target/test-output.log

# Installs a rustup component when the cargo subcommand it provides is missing.
ensure_component() {
    local subcommand=$1 component=$2
    if ! cargo "$subcommand" --version >/dev/null 2>&1; then
        command -v rustup >/dev/null || die "cargo $subcommand is missing and rustup is not installed"
        rustup component add "$component"
    fi
}

# Runs the given test command, saving its output, then repeats the summary lines.
run_tests() {
    mkdir -p target
    local status=0
    "$@" 2>&1 | tee "$log_file" || status=$?
    step "summary"
    awk '
        /^ +(Running|Doc-tests) / || /process_handling: running / { print; next }
        /^test result:/ { print; in_failures = 0; next }
        /^failures:$/ { in_failures = 1; next }
        in_failures && /^    [^ ]/ { print "    FAILED: " $1; next }
        /coverage, [0-9]+\/[0-9]+ lines covered/ || /failure threshold/ { print }
    ' "$log_file" >&2 || true
    if ((status != 0)); then
        die "tests failed (exit $status); full output in $log_file"
    fi
}

step "database (scripts/db.sh)"
DATABASE_URL="$(scripts/db.sh)"
export DATABASE_URL
# Hide a password, if any, from the CI log.
printf 'DATABASE_URL=%s\n' "$(printf '%s' "$DATABASE_URL" | sed -E 's#(://[^:@/]*):[^@/]*@#\1:***@#')" >&2

step "cargo fmt --all -- --check"
ensure_component fmt rustfmt
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
ensure_component clippy clippy
cargo clippy --all-targets -- -D warnings

if ((coverage)); then
    step "cargo-tarpaulin"
    if ! cargo tarpaulin --version >/dev/null 2>&1; then
        echo "cargo-tarpaulin is missing; installing it (takes several minutes)" >&2
        cargo install cargo-tarpaulin --locked
    fi
    cargo tarpaulin --version >&2

    step "tests under coverage (cargo tarpaulin, gate ${min_coverage}%)"
    # The whole test suite runs once, instrumented. A separate target dir keeps the
    # instrumented build (different RUSTFLAGS) from invalidating target/debug.
    run_tests cargo tarpaulin \
        --engine llvm \
        --all-targets \
        --skip-clean \
        --target-dir target/tarpaulin \
        --timeout 600 \
        --fail-under "$min_coverage" \
        --out Stdout \
        --exclude-files 'scripts/*' 'target/*' \
        "${extra[@]}"
else
    step "tests (cargo test --all-targets, no coverage)"
    run_tests cargo test --all-targets "${extra[@]}"
fi

step "systemd unit files (scripts/install-systemd.sh --check)"
bash scripts/install-systemd.sh --check

# The scripts build into a target directory of their own, named by CARGO_TARGET_DIR as a shared
# CI cache would: the quickstart must find its binary there (and the build costs no more than
# the target/debug one it replaces).
scripts_target="$PWD/target/scripts"
step "the main job (scripts/quickstart.sh, CARGO_TARGET_DIR=$scripts_target)"
CARGO_TARGET_DIR="$scripts_target" bash scripts/quickstart.sh >target/quickstart.log 2>&1 || {
    tail -n 40 target/quickstart.log >&2
    die "scripts/quickstart.sh failed; full output in target/quickstart.log"
}
tail -n 12 target/quickstart.log >&2

step "the shared-host mode with real Unix accounts (scripts/test-shared-host.sh)"
if [[ $(id -u) -eq 0 ]]; then
    bash scripts/test-shared-host.sh "$scripts_target/debug/ascend"
else
    echo "not root: the shared-host test needs root to create Unix accounts; run it as root (CI does)" >&2
fi

step "all checks passed"
