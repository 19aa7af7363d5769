#!/usr/bin/env bash
# Checks the systemd units in systemd/ with `systemd-analyze verify`.
#
# `verify` requires ExecStart= binaries to exist, so the units are copied to a temporary
# directory with /usr/local/bin/... rewritten to stub executables there. Any output from
# `verify` (warnings included) counts as a failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

units=(systemd/vibebridge.service systemd/vibebridge-agent.service)

if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "systemd-analyze not found; installing the Debian package 'systemd'"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends systemd
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/units"

copies=()
for unit in "${units[@]}"; do
    # Stub every /usr/local/bin/<name> the unit executes.
    while read -r bin; do
        printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/$bin"
        chmod +x "$tmp/bin/$bin"
    done < <(grep -oE '^Exec[A-Za-z]*=[-@:+!]*/usr/local/bin/[^ ]+' "$unit" | sed -E 's|.*/usr/local/bin/||')
    copy="$tmp/units/$(basename "$unit")"
    sed -E "s|^(Exec[A-Za-z]*=[-@:+!]*)/usr/local/bin/|\1$tmp/bin/|" "$unit" >"$copy"
    copies+=("$copy")
done

echo "systemd-analyze verify ${units[*]}"
status=0
output="$(SYSTEMD_LOG_COLOR=0 systemd-analyze verify "${copies[@]}" 2>&1)" || status=$?
if [ -n "$output" ]; then
    printf '%s\n' "$output" | sed "s|$tmp/units/|systemd/|g; s|$tmp/bin/|/usr/local/bin/|g"
fi
if [ "$status" -ne 0 ] || [ -n "$output" ]; then
    echo "FAIL: systemd-analyze verify reported problems (exit status $status)" >&2
    exit 1
fi
echo "OK: ${#units[@]} units verified, no warnings"
