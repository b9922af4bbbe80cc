#!/usr/bin/env bash
# Checks the gala-gopher 2.0.2 stand-in under a real systemd: boots the e2e container, installs
# the stand-in (install.sh), and runs it as a 2.0.2 host would: gopher-ctl and REST answers,
# a live change with no restart, probes.init saved by ExecStop and replayed by ExecStartPost.
#   bash ci/e2e/stand-ins/gala-gopher2/selftest.sh
# Uses ci/e2e/container.sh (E2E_CACHE as there). Exit status non-zero when any check failed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../../../.." && pwd)
# shellcheck source=../../container.sh
source "$REPO/ci/e2e/container.sh"

FAILED=()
check() { # NAME WANT GOT
  if [ "$2" = "$3" ]; then
    echo "  ok   $1"
  else
    echo "  FAIL $1"
    echo "       expected: $(printf %q "$2")"
    echo "       got:      $(printf %q "$3")"
    FAILED+=("$1")
  fi
}
prop() { ct systemctl show -p "$1" --value gala-gopher.service; }
SUCCESS='{ "result": "success", "message":"New config takes effect" }'

trap 'container_stop' EXIT
container_build_root
container_start gala-gopher2-selftest
bash "$HERE/install.sh" "$CT_ROOT"
ct systemctl daemon-reload
ct systemctl start gala-gopher.service

echo "== running"
check "gala-gopher active" active "$(ct systemctl is-active gala-gopher.service)"
check "the unit saves at stop" yes \
  "$(prop ExecStop | grep -q 'init_probes.sh --save' && echo yes || echo no)"
PID1=$(prop MainPID)
check "gopher-ctl get, never configured" '{}' "$(ct gopher-ctl probe get tcp)"
check "REST get, never configured" '{}' "$(ct curl -s http://127.0.0.1:9999/tcp)"
got=$(ct sh -c 'code=$(curl -s -o /tmp/b -w "%{http_code}" http://127.0.0.1:9999/redis_sli); printf "%s %s" "$code" "$(cat /tmp/b)"')
check "REST 404 for a name 2.0.2 lacks" '404 { "result": "failed", "message":"url not found" }' "$got"
check "gopher-ctl set io" "$SUCCESS" \
  "$(ct gopher-ctl probe set io '{"cmd":{"probe":["io_err"]},"state":"running"}')"
got=$(ct sh -c 'curl -s -w " %{http_code}" -X PUT http://127.0.0.1:9999/tcp -d '\''json={"cmd":{"probe":["tcp_rtt"]},"state":"running"}'\''')
check "REST: tcp without snoopers" '{ "result": "failed", "message":"the snooper for tcp cannot be empty" }
 400' "$got"
got=$(ct curl -s -X PUT http://127.0.0.1:9999/tcp \
  -d 'json={"cmd":{"probe":["tcp_rtt"]},"snoopers":{"proc_name":[{"comm":"java"}]},"state":"running"}')
check "REST: tcp with snoopers" "$SUCCESS" "$got"
check "gopher-ctl get io: running" running \
  "$(ct gopher-ctl probe get io | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
check "no restart for a change (MainPID)" "$PID1" "$(prop MainPID)"

echo "== stop: ExecStop saves the live state"
ct systemctl stop gala-gopher.service
saved=$(ct cat /etc/gala-gopher/probes.init)
check "probes.init lines, in the order of the script" "tcp io" "$(awk '{print $1}' <<<"$saved" | tr '\n' ' ' | sed 's/ $//')"
check "io saved running" yes "$(grep -q '^io .*"state":"running"}$' <<<"$saved" && echo yes || echo no)"
check "probes.init mode kept" "640 root root" "$(ct stat -c '%a %U %G' /etc/gala-gopher/probes.init)"
got=$(ct gopher-ctl probe get io; echo " rc=$?") || true
check "gopher-ctl while stopped" "Failed to connect to gopher cmd server, err=Connection refused
 rc=255" "$got"

echo "== start: ExecStartPost replays probes.init, with an edit made while stopped"
ct sh -c 'echo "virt {\"state\": \"running\"}" >> /etc/gala-gopher/probes.init'
ct systemctl start gala-gopher.service
check "gala-gopher active again" active "$(ct systemctl is-active gala-gopher.service)"
state_of() { ct gopher-ctl probe get "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("state"))'; }
check "io replayed" running "$(state_of io)"
check "tcp replayed" running "$(state_of tcp)"
check "virt (edited in while stopped) replayed" running "$(state_of virt)"
check "replayed without whitespace" '{"state":"running"}' \
  "$(ct python3 -c 'import json
sets = [json.loads(l) for l in open("/var/lib/gala-gopher-standin/requests.jsonl")]
print([e["body"] for e in sets if e["method"] == "set" and e["probe"] == "virt"][-1])')"
ct systemctl stop gala-gopher.service
check "virt saved at the next stop" yes \
  "$(ct grep -q '^virt ' /etc/gala-gopher/probes.init && echo yes || echo no)"

if [ ${#FAILED[@]} -gt 0 ]; then
  echo "gala-gopher2 stand-in selftest: ${#FAILED[@]} failed: ${FAILED[*]}"
  exit 1
fi
echo "gala-gopher2 stand-in selftest: all checks passed"
