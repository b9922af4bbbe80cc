#!/usr/bin/env bash
# The unit and integration tests built for aarch64 (Kunpeng) and run under user-mode emulation
# (qemu-aarch64-static, Debian's qemu-user-static) as cargo's runner for the target.
# Installs what it needs when absent (ci/cross.sh). Extra arguments go to cargo test, e.g.
#   bash ci/test-aarch64.sh --test routing
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross.sh
source ci/cross.sh

TARGET=aarch64-unknown-linux-musl
cross_setup "$TARGET"
cross_runner_setup "$TARGET"
echo "test-aarch64: runner $CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER ($("$CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER" --version | head -n 1))" >&2
echo "test-aarch64: NOTE: the peak-RSS bound of tests/http_mutation.rs is NOT checked here (the process measured is qemu's); the x86_64 run checks it" >&2
cargo test --locked --target "$TARGET" "$@"
