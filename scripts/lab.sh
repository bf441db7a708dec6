#!/usr/bin/env bash
# The lab: builds keepalived-rs and runs `keepalived-rs lab` (root): a client, two
# directors, three web servers and a mail server in network namespaces; election,
# traffic, a web server failing and returning, the MASTER killed and back, mails.
# Installs what it needs on a fresh Debian machine (iproute2, nftables, Rust's
# build needs are already there).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "the lab creates network namespaces: run it as root (sudo $0)" >&2
  exit 1
fi
need=()
for pkg in iproute2 nftables; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release -q -p keepalived-rs
exec ./target/release/keepalived-rs lab "$@"
