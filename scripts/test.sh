#!/usr/bin/env bash
# Runs the whole keepalived-rs test suite on a fresh Debian machine: installs what
# the tests need (idempotently), builds, runs cargo test (root-only tests included
# when run as root), then a 60 s fuzz smoke run of the config parser.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in iproute2 nftables keepalived tcpdump curl conntrackd; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # keepalived's package would start a service; keep it from doing so.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    rm -f /usr/sbin/policy-rc.d
  else
    echo "not root: cannot install ${need[*]}; root-only tests will be skipped" >&2
  fi
fi

# A clean build needs a few GiB; say so up front instead of failing mid-link.
avail_kib=$(df -Pk . | awk 'NR == 2 {print $4}')
if [ "${avail_kib:-0}" -lt $((3 * 1024 * 1024)) ]; then
  echo "warning: only $((avail_kib / 1024)) MiB free on $(df -P . | awk 'NR == 2 {print $6}'); the build needs about 3 GiB" >&2
fi
# One-shot builds gain nothing from incremental state, which doubles the disk used.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

cargo build --workspace --all-targets
cargo test --workspace

if [ "${SKIP_FUZZ:-0}" != 1 ]; then
  ./scripts/fuzz-smoke.sh "${FUZZ_SECONDS:-60}"
fi
