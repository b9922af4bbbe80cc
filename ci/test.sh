#!/usr/bin/env bash
# Every test of aops-agent: formatting, lints, unit and integration tests, the RPM build, and the
# end-to-end suite under a real systemd. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --locked
echo "== cargo test for aarch64, under qemu-aarch64-static"
bash ci/test-aarch64.sh
echo "== RPM"
bash ci/build-rpm.sh
echo "== memory of the static binary"
AOPS_AGENT_STATIC_BIN=${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-musl/release/aops_agent \
  cargo test --locked --test memory static_build -- --nocapture
echo "== end-to-end under systemd"
bash ci/e2e/run.sh
