#!/usr/bin/env bash
# Installs the Debian packages ringkv needs to build, test and benchmark.
# Quiet and quick when everything is present; installs only what is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang libclang-rt-14-dev
  libxxhash-dev libjemalloc-dev libcmocka-dev
  libhiredis-dev                    # ringkv-cli's client library
  liblz4-dev libzstd-dev            # SST block compression
  librocksdb-dev libleveldb-dev     # bench/engine: the engines ringkv's is compared with
  redis-server redis-tools          # redis-cli, redis-benchmark, and Redis 7 to compare against
  python3-pytest python3-redis      # integration tests (run with /usr/bin/python3)
  prometheus                        # promtool and a real Prometheus for the /metrics tests
  nftables                          # network partitions in cluster tests
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Keep the packaged redis-server service from starting: tests and benchmarks
# start their own instances on their own ports.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
