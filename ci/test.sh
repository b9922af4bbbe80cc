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
echo "== RPM"
bash ci/build-rpm.sh
echo "== end-to-end under systemd"
bash ci/e2e/run.sh
