#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One command from a fresh Debian 12 + Node 20 machine (as root) to a working `memscope`:
# system packages, npm dependencies, the BPF objects, the native addon, the TypeScript build,
# and `memscope` on PATH. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs Debian packages and puts memscope in /usr/local/bin)" >&2
  exit 1
fi

# Build tools and libraries for the BPF side and the addon; binutils/gcc for test workloads;
# chromium (headless) for the test that opens triage's HTML page; prometheus (promtool and a
# server scraping the agent) and golang-go (go tool pprof reading its profiles) for the agent's tests;
# docker.io (the test starts its own dockerd, no network) and busybox-static (its image's shell).
PACKAGES=(clang llvm libbpf-dev libelf-dev zlib1g-dev bpftool make gcc g++ python3 pkg-config binutils util-linux chromium
  valgrind libjemalloc2 prometheus golang-go docker.io busybox-static musl-tools) # valgrind: memleak frames are checked against it; jemalloc: memleak -O;
  # musl-tools: a musl program that memleak -p --sample-bytes refuses
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
npm run --silent build

# classic tracepoints are found through tracefs
if [ ! -d /sys/kernel/tracing/events ]; then mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true; fi

ln -sf "$PWD/bin/memscope" /usr/local/bin/memscope
echo "setup.sh: memscope is ready ($(command -v memscope))"
