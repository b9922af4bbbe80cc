#!/usr/bin/env bash
# Builds the static (musl) aops_agent and the aops-agent RPM, then lints the RPM.
# Installs what it needs when absent: the musl target, musl-gcc and cargo-generate-rpm.
#   bash ci/build-rpm.sh [extra cargo-generate-rpm options, e.g. -s 'release = "2"']
# RPM_OUT=DIR puts the RPM there (default: $CARGO_TARGET_DIR/generate-rpm). Prints the path of
# the RPM on its last line.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=x86_64-unknown-linux-musl
CGR_VERSION=0.21.0
TARGET_DIR=${CARGO_TARGET_DIR:-target}

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
# The allocator is C, compiled for musl by musl-gcc.
if ! command -v musl-gcc >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null
  else
    dnf install -y -q musl-gcc >/dev/null
  fi
fi
if ! cargo generate-rpm --version 2>/dev/null | grep -q "$CGR_VERSION"; then
  # A debug build of the packaging tool: it compiles in about a third of the time of an optimised
  # one on two cores and still packs the RPM in a few seconds.
  cargo install --locked --debug --version "$CGR_VERSION" cargo-generate-rpm
fi

cargo build --release --locked --target "$TARGET" >&2
bin=$TARGET_DIR/$TARGET/release/aops_agent
# The package declares no library dependencies: the binary must not need any.
if ! LC_ALL=C ldd "$bin" 2>&1 | grep -Eq 'statically linked|not a dynamic executable'; then
  echo "build-rpm: $bin is not statically linked:" >&2
  ldd "$bin" >&2 || true
  exit 1
fi

# The man pages are kept as roff source in rpm/man/; the package carries them compressed, as
# rpm's own build would (-n: no name or time stamp, so the same source gives the same bytes).
# Always under ./target: Cargo.toml's assets name that path whatever CARGO_TARGET_DIR says.
mkdir -p target/man
for page in rpm/man/*.[0-9]; do
  gzip -9 -n -c "$page" >"target/man/$(basename "$page").gz"
done

out=${RPM_OUT:-$TARGET_DIR/generate-rpm}
mkdir -p "$out"
cargo generate-rpm --target "$TARGET" -o "$out" "$@" >&2
rpm_file=$(ls -t "$out"/aops-agent-*.rpm | head -n 1)

if command -v rpmlint >/dev/null 2>&1; then
  echo "== rpmlint $rpm_file" >&2
  rpmlint -c rpm/rpmlint.toml -r rpm/aops-agent.rpmlintrc "$rpm_file" >&2
else
  echo "build-rpm: rpmlint is missing (bash ci/setup.sh installs it)" >&2
  exit 1
fi
echo "$rpm_file"
