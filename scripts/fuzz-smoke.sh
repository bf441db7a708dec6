#!/usr/bin/env bash
# Runs each cargo-fuzz target for N seconds (default 60). cargo-fuzz needs nightly
# compiler flags; RUSTC_BOOTSTRAP lets the machine's stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for t in $(cargo fuzz list); do
  mkdir -p fuzz/corpus/"$t"
  # Seed with keepalived's sample configs when they are beside us.
  if [ -d ../shared/fixtures/keepalived-samples ]; then
    cp -n ../shared/fixtures/keepalived-samples/keepalived.conf.* fuzz/corpus/"$t"/ 2>/dev/null || true
  fi
  cargo fuzz run "$t" fuzz/corpus/"$t" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536
done
