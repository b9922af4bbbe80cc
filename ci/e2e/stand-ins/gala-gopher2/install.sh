#!/usr/bin/env bash
# Installs the gala-gopher 2.0.2 stand-in into a container root, where the host looks like a
# gala-gopher 2.0.2 host: the unit (with ExecStop saving probe state), /usr/bin/gala-gopher,
# /usr/bin/gopher-ctl, init_probes.sh, /etc/gala-gopher/{gala-gopher.conf,probes.init}.
# The unit goes to /etc/systemd/system, where it replaces the 1.x stand-in's unit.
#   bash ci/e2e/stand-ins/gala-gopher2/install.sh ROOT
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../../.." && pwd)
ROOT=${1:?usage: install.sh ROOT (a container root, never /)}
ROOT=$(cd "$ROOT" && pwd -P)
if [ "$ROOT" = / ] || [ ! -d "$ROOT/etc" ] || [ ! -d "$ROOT/usr/bin" ]; then
  echo "install.sh: '$ROOT' is not a container root" >&2
  exit 1
fi
install -D -m 0644 "$REPO/tests/support/gala_gopher_standin.py" \
  "$ROOT/usr/libexec/gala-gopher-standin/gala_gopher_standin.py"
install -D -m 0755 "$HERE/gala-gopher" "$ROOT/usr/bin/gala-gopher"
install -D -m 0755 "$HERE/gopher-ctl" "$ROOT/usr/bin/gopher-ctl"
install -D -m 0755 "$HERE/init_probes.sh" "$ROOT/usr/libexec/gala-gopher/init_probes.sh"
install -D -m 0644 "$HERE/gala-gopher.service" "$ROOT/etc/systemd/system/gala-gopher.service"
# gala-gopher.md: probes.init is root's, 0640.
install -D -m 0640 -o root -g root "$HERE/gala-gopher.conf" "$ROOT/etc/gala-gopher/gala-gopher.conf"
install -D -m 0640 -o root -g root "$HERE/probes.init" "$ROOT/etc/gala-gopher/probes.init"
