#!/usr/bin/env bash
# setup.sh: installs what the daemon, demo, tests and benchmarks need on a
# fresh Debian machine (as root), then builds the BPF objects and the
# generated code. Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# what building the BPF objects takes; the Dockerfile's build stage installs exactly
# these (test/deploy/dockerfile.test.ts), and DEB_PACKAGES holds them all
BPF_BUILD_PACKAGES=(clang llvm libbpf-dev make)
# tshark, tcpdump, python3-scapy: independent peers of the overlay tests (a dissector
# and a frame builder for MPLSoUDP / MPLSoGRE, which this kernel cannot terminate);
# prometheus: promtool and a real server for the metrics tests (they run their own on a
# random loopback port with a throwaway config; the package's service is not needed)
DEB_PACKAGES=(clang llvm libbpf-dev bpftool iproute2 iputils-ping ethtool make util-linux procps iperf3 tshark tcpdump python3-scapy prometheus)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing Debian packages: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file; a
# node_modules that is a symlink (a git worktree sharing another tree's) is
# left alone: npm ci would empty the tree it points to, under its other users
if [ -L node_modules ]; then
	[ -x node_modules/.bin/node ] || { echo "setup: node_modules links to a tree without node; run npm ci there" >&2; exit 1; }
elif [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "setup: installing npm packages"
	npm ci --no-audit --no-fund --loglevel=error
fi

# bpffs: where the datapath is pinned
if ! grep -qs ' /sys/fs/bpf bpf ' /proc/mounts; then
	mount -t bpf bpf /sys/fs/bpf
fi

npm run -s build
