#!/usr/bin/env bash
# Installs the ascend binary and its systemd units and timers (crawl during the session, settle
# every minute, settle --close after 15:30, snapshot after the close). Run as root.
#
# Usage: scripts/install-systemd.sh [--check]
#   --check   only verify the unit files (systemd-analyze verify where it exists); install nothing
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

[[ $(id -u) -eq 0 ]] || { echo "install-systemd.sh: run as root" >&2; exit 1; }
cargo build --release --bin ascend
install -m 0755 target/release/ascend /usr/local/bin/ascend
id ascend >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin ascend
install -d -m 0750 -o root -g ascend /etc/ascend
[[ -f /etc/ascend/ascend.env ]] || install -m 0640 -o root -g ascend scripts/systemd/ascend.env.example /etc/ascend/ascend.env
install -m 0644 "${units[@]}" /etc/systemd/system/
systemctl daemon-reload
systemctl enable --now ascend-crawl.timer ascend-settle.timer ascend-settle-close.timer ascend-snapshot.timer
systemctl list-timers 'ascend-*'
