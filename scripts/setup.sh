#!/usr/bin/env bash
# setup.sh: installs what the daemon, demo, tests and benchmarks need on a
# fresh Debian machine (as root), then builds the BPF objects and the
# generated code. Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEB_PACKAGES=(clang llvm libbpf-dev bpftool iproute2 iputils-ping ethtool make util-linux procps iperf3)
missing=()
for p in "${DEB_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "setup: installing Debian packages: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci when node_modules is missing or older than the lock file
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "setup: installing npm packages"
	npm ci --no-audit --no-fund --loglevel=error
fi

# bpffs: where the datapath is pinned
if ! grep -qs ' /sys/fs/bpf bpf ' /proc/mounts; then
	mount -t bpf bpf /sys/fs/bpf
fi

npm run -s build
