#!/usr/bin/env bash
# The one test command of VibeBridge: formatting, lints, systemd units, the web UI's build and the test suite.
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
# bubblewrap: the sandbox the real `codex` CLI runs its commands in (it falls back to a bundled copy, noisily).
# git: the provider CLIs refuse to work outside a git repository, and the tests make one per run.
# openssh-client: the admin-console tests drive the real `ssh`.
# chromium: the browser end-to-end test (tests/tests/browser.rs) drives Debian's Chromium with playwright-core.
# python3, python3-venv: the fake Web Push service checks main's VAPID tokens and decrypts its payloads in Python
# (tests/push/webpush.py, in a venv made in step 1d).
# postgresql: main's PostgreSQL backend is tested on throwaway clusters each test starts itself (initdb and pg_ctl
# from Debian's server package, on a free loopback port in a temp directory; tests/src/pg.rs). Debian may also start
# its own cluster on 5432; the tests do not use it.
# openssl: the PostgreSQL TLS tests (tests/tests/store_tls.rs) make their CA and server certificate with the CLI.
packages=(systemd bubblewrap git openssh-client chromium python3 python3-venv postgresql openssl)
if ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
fi
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

# ---------------------------------------------------------------------------
step "1b/5 Provider CLIs (tests/package.json: pinned claude and codex)"
# The tests run the real CLIs against mock model APIs. `npm ci` installs exactly tests/package-lock.json; a stamp
# (a copy of the lock it installed) skips it when nothing changed. Both CLIs are checked by running them: the claude
# package's postinstall links its native binary into bin/claude.exe, and when npm skips install scripts that file
# stays a stub printing "claude native binary not installed" (PROVIDERS.md §1.7), so the hook is run by hand.
claude_version=2.1.329
codex_version=0.169.0
claude_ok() {
    [ "$(tests/node_modules/.bin/claude --version 2>/dev/null || true)" = "$claude_version (Claude Code)" ]
}
codex_ok() {
    [ "$(tests/node_modules/.bin/codex --version 2>/dev/null || true)" = "codex-cli $codex_version" ]
}
stamp=tests/node_modules/.vibebridge-lock
if cmp -s tests/package-lock.json "$stamp" && claude_ok && codex_ok; then
    echo "up to date: claude $claude_version, codex $codex_version"
else
    rm -f "$stamp"
    npm ci --prefix tests --no-audit --no-fund
    if ! claude_ok; then
        echo "claude native binary missing after npm ci; running its install hook"
        (cd tests/node_modules/@anthropic-ai/claude-code && node install.cjs)
    fi
    claude_ok || { echo "claude $claude_version is not runnable from tests/node_modules" >&2; exit 1; }
    codex_ok || { echo "codex $codex_version is not runnable from tests/node_modules" >&2; exit 1; }
    cp tests/package-lock.json "$stamp"
    echo "installed: claude $claude_version, codex $codex_version"
fi

# ---------------------------------------------------------------------------
step "1c/5 Web UI: npm ci, typecheck, unit tests, committed web/dist matches the sources"
# web/package-lock.json pins React, Vite, xterm.js and playwright-core (the browser test's driver); a stamp skips
# `npm ci` when nothing changed. The UI is rebuilt into a scratch directory and compared with the committed dist:
# the binary embeds web/dist, so a source change without `npm run build --prefix web` would ship a stale UI.
web_stamp=web/node_modules/.vibebridge-lock
if cmp -s web/package-lock.json "$web_stamp" && [ -d web/node_modules/playwright-core ]; then
    echo "up to date: web/node_modules"
else
    rm -f "$web_stamp"
    npm ci --prefix web --no-audit --no-fund
    cp web/package-lock.json "$web_stamp"
fi
(cd web && npx --no-install tsc -b)
(cd web && node --test unit/)
dist_check=$(mktemp -d)
(cd web && npx --no-install vite build --logLevel warn --outDir "$dist_check" --emptyOutDir)
if ! diff -r web/dist "$dist_check" >/dev/null; then
    diff -r web/dist "$dist_check" | head -20 || true
    rm -rf "$dist_check"
    echo "web/dist is stale: run \`npm run build --prefix web\` and commit web/dist" >&2
    exit 1
fi
rm -rf "$dist_check"
echo "web/dist matches web/src"

# ---------------------------------------------------------------------------
step "1d/5 Python for the fake push service (tests/push/webpush.py: pinned http_ece and cryptography)"
# The Web Push tests check main's VAPID signatures with `cryptography` and decrypt its payloads with http_ece (the
# aes128gcm reference code by the author of RFC 8188), independently of the Rust crates main uses. They live in a
# venv under target/; a stamp (the pinned list it installed) skips pip when nothing changed. cffi and pycparser,
# cryptography's own dependencies, are left to pip (their newest releases need a newer Python than some distros').
push_venv=target/push-venv
push_requirements=(http_ece==1.2.1 cryptography==50.0.2)
push_stamp=$push_venv/.vibebridge-requirements
if cmp -s <(printf '%s\n' "${push_requirements[@]}") "$push_stamp" \
    && "$push_venv/bin/python" -c 'import http_ece, cryptography' 2>/dev/null; then
    echo "up to date: $push_venv (${push_requirements[*]})"
else
    python=/usr/bin/python3
    [ -x "$python" ] || python=python3
    rm -rf "$push_venv"
    "$python" -m venv "$push_venv"
    "$push_venv/bin/pip" install --quiet --disable-pip-version-check --use-pep517 "${push_requirements[@]}"
    printf '%s\n' "${push_requirements[@]}" >"$push_stamp"
    echo "installed: $push_venv (${push_requirements[*]})"
fi

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
# The browser test runs the real `vibebridge` binary (`up`), which no test target builds by itself.
cargo build -p vibebridge-main --bin vibebridge
if cargo nextest --version >/dev/null 2>&1; then
    step "5/5 cargo nextest run --workspace --no-fail-fast"
    cargo nextest run --workspace --no-fail-fast
else
    step "5/5 cargo test --workspace (cargo-nextest not installed)"
    cargo test --workspace
fi

printf '\n==> All checks passed\n'
