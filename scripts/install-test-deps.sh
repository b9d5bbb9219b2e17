#!/usr/bin/env bash
# Install the Debian packages the test suite needs (Debian 12, run as root).
#
# Idempotent: packages already installed are left alone. The tests start their
# own private Dovecot and PostgreSQL on free loopback ports, so the system service the package
# starts on install is stopped and disabled again: it would only hold ports
# 143/993/24 and run as a daemon nobody asked for.
#
# Not root: prints which packages are missing and exits 0, so the tests that need
# them skip with a visible reason instead of the whole run failing here.
set -euo pipefail

# Add a package here and it is installed; nothing else needs to change.
PACKAGES=(dovecot-imapd dovecot-lmtpd postgresql chromium fonts-wqy-microhei libreoffice-calc-nogui
          libreoffice-writer-nogui)

# System services the packages above start on install, each with the pid file of
# its master process (the last resort when no service manager is running).
declare -A SERVICES=([dovecot]=/run/dovecot/master.pid
                     [postgresql]=/run/postgresql/15-main.pid)

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
            echo "$pkg"
        fi
    done
}

stop_service() {
    local svc=$1 pidfile=$2
    # Containers often have systemctl but no running systemd, so each way down is
    # tried in turn and none is fatal. `disable` works offline (it only removes links).
    if command -v systemctl >/dev/null 2>&1; then
        systemctl stop "$svc" >/dev/null 2>&1 || true
        systemctl disable "$svc" >/dev/null 2>&1 || true
    fi
    if command -v service >/dev/null 2>&1; then
        service "$svc" stop >/dev/null 2>&1 || true
    fi
    # Signal only the system instance named by its pid file: private test instances
    # keep their pid files elsewhere and must survive.
    if [[ -f $pidfile ]] && command -v pkill >/dev/null 2>&1; then
        pkill -F "$pidfile" >/dev/null 2>&1 || true
    fi
}

mapfile -t missing < <(missing_packages)

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install-test-deps: all test packages present (${PACKAGES[*]})"
    exit 0
fi

if [[ $EUID -ne 0 ]]; then
    echo "install-test-deps: not root, so not installing: ${missing[*]}" \
         "- tests that need them will be skipped (run as root to install)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get install -y --no-install-recommends "$@"
}

echo "install-test-deps: installing ${missing[*]}"
# A fresh image often has empty package lists; refresh them once, only when needed.
if ! apt_install "${missing[@]}"; then
    echo "install-test-deps: install failed, refreshing package lists and retrying"
    apt-get update
    apt_install "${missing[@]}"
fi

for svc in "${!SERVICES[@]}"; do
    stop_service "$svc" "${SERVICES[$svc]}"
done

echo "install-test-deps: done"
