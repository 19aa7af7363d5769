#!/usr/bin/env bash
# OpenSSH baseline for tunnel-bench: echo throughput of `ssh -c aes128-gcm@openssh.com host cat` through a
# private sshd on 127.0.0.1 (temporary host key, client key, authorized_keys and config; nothing outside a
# temporary directory is touched), with session set-up excluded.
#
#   bash scripts/bench-openssh.sh BYTES PORT
#
# PORT should be free (tunnel-bench passes one the kernel just handed out). Installs openssh-server when sshd
# is missing (Debian/Ubuntu, as root or with passwordless sudo). The last line of output is either
#   echo_mbps <MB/s> oneway_mbps <MB/s> setup_s <seconds>
# or
#   skip: <reason>
# and the exit status is 0 in both cases. MB = 10^6 bytes of payload one way.
#
#   bash scripts/bench-openssh.sh serve PORT
#
# only starts the private sshd (for terminal-bench's interactive echo baseline), prints
#   ready user <user> key <client key file> port <port>
# (or `skip: <reason>`), and keeps it running until its standard input closes.
set -uo pipefail

mode=bench
if [ "${1:-}" = serve ]; then
    mode=serve
    shift
    bytes=0
    port=${1:?usage: bench-openssh.sh serve PORT}
else
    bytes=${1:?usage: bench-openssh.sh BYTES PORT}
    port=${2:?usage: bench-openssh.sh BYTES PORT}
fi

skip() {
    echo "skip: $*"
    exit 0
}

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo=(sudo -n)
    else
        sudo=(none)
    fi
fi

find_sshd() {
    command -v sshd 2>/dev/null || { [ -x /usr/sbin/sshd ] && echo /usr/sbin/sshd; } || true
}

sshd=$(find_sshd)
if [ -z "$sshd" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        skip "sshd is not installed and there is no apt-get to install openssh-server"
    fi
    if [ "${sudo[0]:-}" = none ]; then
        skip "sshd is not installed and installing openssh-server needs root or passwordless sudo"
    fi
    echo "installing openssh-server ..." >&2
    if ! { "${sudo[@]}" apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
            openssh-server openssh-client; } >&2; then
        skip "installing openssh-server failed"
    fi
    sshd=$(find_sshd)
    [ -n "$sshd" ] || skip "openssh-server installed but sshd not found"
fi
command -v ssh >/dev/null 2>&1 || skip "the ssh client is not installed"
command -v ssh-keygen >/dev/null 2>&1 || skip "ssh-keygen is not installed"

dir=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key" || skip "ssh-keygen failed"
ssh-keygen -q -t ed25519 -N '' -f "$dir/client_key" || skip "ssh-keygen failed"
cp "$dir/client_key.pub" "$dir/authorized_keys"
chmod 600 "$dir/authorized_keys"
user=$(id -un)

# sshd run as root needs its privilege-separation directory.
if [ "$(id -u)" -eq 0 ]; then
    mkdir -p /run/sshd 2>/dev/null
fi

cat >"$dir/sshd_config" <<EOF
ListenAddress 127.0.0.1
Port $port
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
AllowUsers $user
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Ciphers aes128-gcm@openssh.com
LogLevel INFO
EOF

"$sshd" -D -e -f "$dir/sshd_config" 2>"$dir/sshd.log" &
pid=$!

# Ready when sshd says it listens; a failed start (port taken, bad config) ends the process instead.
for _ in $(seq 200); do
    grep -q "Server listening" "$dir/sshd.log" 2>/dev/null && break
    if ! kill -0 "$pid" 2>/dev/null; then
        pid=
        skip "sshd did not start: $(tr '\n' ' ' <"$dir/sshd.log" | cut -c1-300)"
    fi
    sleep 0.05
done
grep -q "Server listening" "$dir/sshd.log" || skip "sshd did not report listening within 10 s"

if [ "$mode" = serve ]; then
    echo "ready user $(id -un) key $dir/client_key port $port"
    cat >/dev/null
    exit 0
fi

opts=(-F /dev/null -p "$port" -i "$dir/client_key" -c aes128-gcm@openssh.com
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes
    -o Compression=no -o LogLevel=ERROR)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
median3() { printf '%s\n' "$@" | sort -g | sed -n 2p; }

timed() {
    local t0 t1
    t0=$(now)
    "$@" || return 1
    t1=$(now)
    elapsed "$t0" "$t1"
}

setup_run() { ssh "${opts[@]}" "$user@127.0.0.1" true </dev/null; }
echo_run() { head -c "$bytes" /dev/zero | ssh "${opts[@]}" "$user@127.0.0.1" cat >/dev/null; }
oneway_run() { head -c "$bytes" /dev/zero | ssh "${opts[@]}" "$user@127.0.0.1" 'cat >/dev/null'; }

s=()
for _ in 1 2 3; do
    s+=("$(timed setup_run)") || skip "ssh to the private sshd failed: $(tail -n 3 "$dir/sshd.log" | tr '\n' ' ')"
done
setup=$(median3 "${s[@]}")
e=()
o=()
for _ in 1 2 3; do
    e+=("$(timed echo_run)") || skip "ssh … cat failed"
    o+=("$(timed oneway_run)") || skip "ssh … 'cat > /dev/null' failed"
done
echo_s=$(median3 "${e[@]}")
oneway_s=$(median3 "${o[@]}")

awk -v b="$bytes" -v e="$echo_s" -v o="$oneway_s" -v s="$setup" 'BEGIN {
    if (e - s <= 0 || o - s <= 0) { print "skip: transfers were not slower than session set-up"; exit }
    printf "echo_mbps %.1f oneway_mbps %.1f setup_s %.3f\n", b / (e - s) / 1e6, b / (o - s) / 1e6, s
}'
