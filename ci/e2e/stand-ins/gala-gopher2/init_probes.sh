#!/bin/bash
# Stand-in for gala-gopher 2.0.2's /usr/libexec/gala-gopher/init_probes.sh: --init replays
# /etc/gala-gopher/probes.init through gopher-ctl, --save rewrites it from the live state.
case "$1" in
  --init) mode=--replay ;;
  --save) mode=--save ;;
  *) exit 0 ;;
esac
exec python3 -S /usr/libexec/gala-gopher-standin/gala_gopher_standin.py init-probes "$mode" \
  --flavour 2.0.2 --probes-init /etc/gala-gopher/probes.init \
  --socket /var/run/gala_gopher/gala_gopher_cmd.sock
