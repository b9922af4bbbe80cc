#!/usr/bin/env bash
# Builds the static (musl) aops_agent and the aops-agent RPM for x86_64 and aarch64, then lints
# each RPM and checks that its architecture is the binary's.
# Installs what it needs when absent (ci/cross.sh): the musl targets, musl-gcc, the aarch64 cross
# compiler with musl's aarch64 headers, and cargo-generate-rpm.
#   bash ci/build-rpm.sh [extra cargo-generate-rpm options, e.g. -s 'release = "2"']
# RPM_ARCHES="x86_64" builds only those (default "x86_64 aarch64"). RPM_OUT=DIR puts the RPMs
# there (default: $CARGO_TARGET_DIR/generate-rpm). Prints the path of each RPM on a line of its
# own, in the order of RPM_ARCHES, as the last lines.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=cross.sh
source ci/cross.sh

ARCHES=${RPM_ARCHES:-"x86_64 aarch64"}
CGR_VERSION=0.21.0
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! cargo generate-rpm --version 2>/dev/null | grep -q "$CGR_VERSION"; then
  # A debug build of the packaging tool: it compiles in about a third of the time of an optimised
  # one on two cores and still packs the RPM in a few seconds.
  cargo install --locked --debug --version "$CGR_VERSION" cargo-generate-rpm
fi
command -v rpmlint >/dev/null 2>&1 || { echo "build-rpm: rpmlint is missing (bash ci/setup.sh installs it)" >&2; exit 1; }

# The man pages are kept as roff source in rpm/man/; the package carries them compressed, as
# rpm's own build would (-n: no name or time stamp, so the same source gives the same bytes).
# Always under ./target: Cargo.toml's assets name that path whatever CARGO_TARGET_DIR says.
mkdir -p target/man
for page in rpm/man/*.[0-9]; do
  gzip -9 -n -c "$page" >"target/man/$(basename "$page").gz"
done

out=${RPM_OUT:-$TARGET_DIR/generate-rpm}
mkdir -p "$out"
rpms=()
for arch in $ARCHES; do
  target=$arch-unknown-linux-musl
  cross_setup "$target"
  cargo build --release --locked --target "$target" >&2
  bin=$TARGET_DIR/$target/release/aops_agent
  cross_check_binary "$target" "$bin"

  stamp=$(mktemp "${TMPDIR:-/tmp}/build-rpm.XXXXXX")
  cargo generate-rpm --target "$target" --arch "$(cross_rpm_arch "$target")" -o "$out" "$@" >&2
  rpm_file=$(find "$out" -maxdepth 1 -name "aops-agent-*.$arch.rpm" -newer "$stamp" | head -n 1)
  rm -f "$stamp"
  [ -n "$rpm_file" ] || { echo "build-rpm: cargo generate-rpm wrote no $arch RPM in $out" >&2; exit 1; }

  got=$(rpm -qp --qf '%{ARCH}' "$rpm_file" 2>/dev/null)
  if [ "$got" != "$arch" ]; then
    echo "build-rpm: $rpm_file says arch '$got', its binary is $(cross_elf_machine "$target")" >&2
    exit 1
  fi
  echo "== rpmlint $rpm_file" >&2
  rpmlint -c rpm/rpmlint.toml -r rpm/aops-agent.rpmlintrc "$rpm_file" >&2
  echo "build-rpm: $arch: binary $(stat -c %s "$bin") bytes, RPM $(stat -c %s "$rpm_file") bytes" >&2
  rpms+=("$rpm_file")
done
printf '%s\n' "${rpms[@]}"
