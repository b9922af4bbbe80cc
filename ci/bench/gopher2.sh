# shellcheck shell=bash
# Sourced by run.sh once the 1.x figures are in: the container becomes a gala-gopher 2.0.2 host
# (ci/e2e/stand-ins/gala-gopher2) and plugin/info and collect/items/change are measured twice:
# with gopher-ctl alone (REST off in gala-gopher's configuration) and with REST alone
# (no gopher-ctl installed). Beside them, the time of one stand-in `gopher-ctl probe get`, so
# the cost of plugin/info's 25 reads can be read against that of one.

say "== gala-gopher 2.x: installing the 2.0.2 stand-in"
ct systemctl stop gala-gopher.service
bash "$REPO/ci/e2e/stand-ins/gala-gopher2/install.sh" "$CT_ROOT"
# Let the agent find /etc/gala-gopher/gala-gopher.conf by itself.
sed -i '/^config_path=/d' "$CT_ROOT/etc/aops/agent.conf"
ct systemctl daemon-reload
ct systemctl start gala-gopher.service
G2_CONF=$CT_ROOT/etc/gala-gopher/gala-gopher.conf

# Median wall time of 20 runs of `gopher-ctl probe get tcp`, timed inside the container.
ctl_get_ms() {
  ct /usr/bin/python3 -c '
import statistics, subprocess, time
t = []
for _ in range(20):
    s = time.perf_counter()
    subprocess.run(["/usr/bin/gopher-ctl", "probe", "get", "tcp"], capture_output=True, check=True)
    t.append((time.perf_counter() - s) * 1000)
print(round(statistics.median(t), 2))'
}

G2_ENDPOINTS=(
  "plugin/info|GET|/v1/agent/plugin/info|||$TOKEN"
  'collect/items/change (1 probe)|POST|/v1/agent/collect/items/change|{"gala-gopher":{"io":"on"}}|{"gala-gopher":{"io":"off"}}|'"$TOKEN"
)

for mode in gopher-ctl rest; do
  case $mode in
    gopher-ctl)
      sed -i 's/rest_api_on = true;/rest_api_on = false;/' "$G2_CONF"
      [ -e "$CT_ROOT/usr/bin/gopher-ctl" ] || mv "$CT_ROOT/usr/bin/gopher-ctl.off" "$CT_ROOT/usr/bin/gopher-ctl"
      ;;
    rest)
      sed -i 's/rest_api_on = false;/rest_api_on = true;/' "$G2_CONF"
      mv "$CT_ROOT/usr/bin/gopher-ctl" "$CT_ROOT/usr/bin/gopher-ctl.off"
      ;;
  esac
  # The generation is detected per request; a restart only makes each mode start alike.
  ct systemctl restart aops-agent.service
  settle
  ct journalctl --no-pager -o cat -n 20 -u aops-agent.service | grep -F "gala-gopher probe control:" | tail -n 1 >&2 || true
  for e in "${G2_ENDPOINTS[@]}"; do
    IFS='|' read -r name method path body body2 token <<<"$e"
    name="$name, 2.x $mode"
    # The previous endpoint's 16-connection run may still have requests queued: let them drain,
    # or strace counts their processes here.
    settle
    count_procs "$name" "$method" "$path" "$body" "$body2" "$token"
    for conns in 1 16; do
      wrk_runs "$name" "$method" "$path" "$body" "$body2" "$token" "$conns"
    done
  done
done
mv "$CT_ROOT/usr/bin/gopher-ctl.off" "$CT_ROOT/usr/bin/gopher-ctl"
for run in $(seq 1 "$RUNS"); do
  sample gopherctl_get_ms "$(ctl_get_ms)"
done
