#!/usr/bin/env bash
# The one test command of VibeBridge: formatting, lints, systemd units and the test suite.
#
#   bash scripts/test.sh
#
# Installs the system packages the tests need when they are missing (Debian/Ubuntu).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
    printf '\n==> %s\n' "$*"
}

sudo=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
fi

# ---------------------------------------------------------------------------
step "1/5 System packages"
# systemd: `systemd-analyze verify` for the units in systemd/.
# (The admin-console issue adds openssh-client here for its tests against the real `ssh`.)
packages=(systemd)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in "${packages[@]}"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}"
        "${sudo[@]}" apt-get update
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
    else
        echo "already installed: ${packages[*]}"
    fi
else
    echo "dpkg-query not found (not Debian/Ubuntu); make sure these are installed: ${packages[*]}"
fi

# --- Later issues: Node.js test dependencies go here -----------------------
# TODO: install the pinned provider CLIs from tests/package.json
#       (e.g. `npm ci --prefix tests`) and Chromium for the browser tests.
# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
step "2/5 cargo fmt --all -- --check"
cargo fmt --all -- --check

# ---------------------------------------------------------------------------
step "3/5 cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# ---------------------------------------------------------------------------
step "4/5 systemd units"
bash scripts/verify-systemd.sh

# ---------------------------------------------------------------------------
if cargo nextest --version >/dev/null 2>&1; then
    step "5/5 cargo nextest run --workspace --no-fail-fast"
    cargo nextest run --workspace --no-fail-fast
else
    step "5/5 cargo test --workspace (cargo-nextest not installed)"
    cargo test --workspace
fi

printf '\n==> All checks passed\n'
