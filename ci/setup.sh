#!/usr/bin/env bash
# Installs what building and testing aops-agent needs on Debian 12 (or openEuler with dnf):
# the musl target, rustfmt/clippy, and the system tools the tests compare against or drive.
# Idempotent: only what is missing is installed.
set -euo pipefail

DEB_PACKAGES=(
  systemd            # systemd-socket-activate: socket activation test
  systemd-container  # systemd-nspawn: end-to-end suite
  debootstrap        # builds the end-to-end container root
  python3            # end-to-end suite: port picking on the host network
  util-linux         # lscpu, lsmem: host facts are compared against them
  dmidecode          # SMBIOS decoding is compared against it
  libconfig-dev      # the reference libconfig parser for the gala-gopher editor
  rpm                # rpm -qp checks of the built package; rpmbuild for the e2e base fixture
  rpmlint
  gcc
  musl-tools         # musl-gcc: builds the allocator (C) into the static musl binary
  curl
  iproute2
  strace             # proves host/info spawns no process
  man-db             # man --warnings: the man pages render cleanly (tests/man_pages.rs, rpmlint)
)

if command -v apt-get >/dev/null 2>&1; then
  missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
elif command -v dnf >/dev/null 2>&1; then
  dnf install -y -q systemd systemd-container debootstrap util-linux dmidecode libconfig-devel \
    rpm rpmlint gcc curl iproute strace man-db >/dev/null
  # The allocator is C: the static musl build needs a musl C compiler where the distribution has one.
  dnf install -y -q musl-gcc >/dev/null 2>&1 || echo "setup: no musl-gcc package; the musl build needs one" >&2
fi

# PyPI's libconf: the second reference libconfig reader of the gala-gopher editor tests.
# Debian's own python3 refuses pip installs; its package python3-libconf is the same code.
if ! python3 -c 'import libconf' 2>/dev/null; then
  python3 -m pip install -q libconf 2>/dev/null \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-libconf >/dev/null
fi

rustup component add rustfmt clippy >/dev/null 2>&1 || true
rustup target list --installed | grep -qx x86_64-unknown-linux-musl \
  || rustup target add x86_64-unknown-linux-musl
