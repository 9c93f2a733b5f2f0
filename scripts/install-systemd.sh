#!/usr/bin/env bash
# Installs a built ascend binary, its manual pages and bash completion, and its systemd units
# and timers (crawl during the session, settle every minute, settle --close after 15:30,
# snapshot after the close). Run as root; it never builds (build first as yourself:
# cargo build --release --bin ascend).
#
# Usage: scripts/install-systemd.sh [BINARY]   (default target/release/ascend)
#        scripts/install-systemd.sh --check    only verify the unit files (systemd-analyze verify
#                                              and, with systemd-analyze security, an exposure of
#                                              3.0 or less per service); install nothing
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
units=(scripts/systemd/*.service scripts/systemd/*.timer)

check() {
    if command -v systemd-analyze >/dev/null 2>&1; then
        # Verify against stand-in paths: the binary and env file need not be installed yet.
        local tmp
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' RETURN
        for u in "${units[@]}"; do
            sed -e "s#/usr/local/bin/ascend#/bin/true#g" -e "s#^EnvironmentFile=.*#EnvironmentFile=-/etc/ascend/ascend.env#" \
                -e "s#^User=ascend#User=root#" -e "s#^Group=ascend#Group=root#" "$u" >"$tmp/$(basename "$u")"
        done
        SYSTEMD_LOG_LEVEL=err systemd-analyze verify --man=no "$tmp"/*.timer "$tmp"/*.service
        echo "systemd-analyze verify: ${#units[@]} unit files ok" >&2
        # Exposure as systemd rates it (0 best, 10 worst); the stand-ins run as root, which
        # rates worse than the real units' User=ascend.
        for s in "$tmp"/*.service; do
            local rating
            rating=$(systemd-analyze security --offline=true "$s" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
            systemd-analyze security --offline=true --threshold=30 "$s" >/dev/null 2>&1 ||
                { echo "$(basename "$s"): exposure ${rating:-?} is over 3.0" >&2; exit 1; }
            echo "systemd-analyze security: $(basename "$s") exposure $rating (at most 3.0)" >&2
        done
    else
        # Without systemd: every timer has its service, and every unit has the sections it needs.
        for t in scripts/systemd/*.timer; do
            [[ -f "${t%.timer}.service" ]] || { echo "$t has no service" >&2; exit 1; }
            grep -q '^OnCalendar=' "$t" || { echo "$t has no OnCalendar" >&2; exit 1; }
        done
        for s in scripts/systemd/*.service; do
            grep -q '^ExecStart=/usr/local/bin/ascend ' "$s" || { echo "$s has no ExecStart" >&2; exit 1; }
        done
        echo "systemd-analyze not found: checked ${#units[@]} unit files for their required lines" >&2
    fi
}

check
[[ "${1:-}" == "--check" ]] && exit 0

binary=${1:-target/release/ascend}
[[ $(id -u) -eq 0 ]] || { echo "install-systemd.sh: run as root" >&2; exit 1; }
[[ -x "$binary" ]] || { echo "install-systemd.sh: $binary is not an executable: build it first, not as root (cargo build --release --bin ascend)" >&2; exit 1; }
install -m 0755 "$binary" /usr/local/bin/ascend
install -d -m 0755 /usr/local/share/man/man1 /usr/local/share/bash-completion/completions
/usr/local/bin/ascend man --dir /usr/local/share/man/man1
/usr/local/bin/ascend completions bash >/usr/local/share/bash-completion/completions/ascend
id ascend >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ascend
install -d -m 0755 -o root -g root /etc/ascend
# systemd reads the environment file as root and hands the variables to the service: the file
# itself stays 0600.
[[ -f /etc/ascend/ascend.env ]] || install -m 0600 -o root -g root scripts/systemd/ascend.env.example /etc/ascend/ascend.env
install -m 0644 "${units[@]}" /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now ascend-crawl.timer ascend-settle.timer ascend-settle-close.timer ascend-snapshot.timer
systemctl list-timers 'ascend-*'
