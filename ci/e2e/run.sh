#!/usr/bin/env bash
# End-to-end suite: the aops-agent RPM under a real systemd, in a booted Debian 12 container.
#   bash ci/e2e/run.sh            build the RPMs (ci/build-rpm.sh), boot, run steps 1-11
#   E2E_STEPS="1 2 3" bash ...    run only some steps (each needs the ones before it that set up
#                                 state: 1 installs; 6 removes, so it runs after 1-10; 11 starts
#                                 from the previous agent and runs alone or last)
# Every step is a named check; all run, the summary names those that failed, and the exit status
# is non-zero when any did. A failing step prints the agent's journal during that step.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
# shellcheck source=container.sh
source "$HERE/container.sh"

STEPS=${E2E_STEPS:-"1 2 3 4 5 8 7 9 10 6 11"}
SUITE_START=$(date +%s)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/aops-e2e.XXXXXX")
# Ports inside the container. With its own network namespace (the default) any port will do;
# on the host's network they must be free there too.
pick_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
if [ "$E2E_PRIVATE_NETWORK" = 1 ]; then
  DEFAULT_PORT=12000 MOVED_IP=127.0.0.2 MOVED_PORT=12077 MANAGER_PORT=11111 OTHER_PORT=12078
else
  DEFAULT_PORT=12000 MOVED_IP=127.0.0.1 MOVED_PORT=$(pick_port) MANAGER_PORT=$(pick_port) OTHER_PORT=$(pick_port)
fi
MAX_EXPOSURE=${E2E_MAX_EXPOSURE:-2.5}
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
TOKEN=e2e-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
CURSOR=

cleanup() {
  local rc=$?
  container_stop || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }
fail() { say "  FAIL: $*"; return 1; }
# Runs a command inside the container; its output is returned, its failure fails the step.
in_ct() { ct "$@"; }
expect_eq() { # WHAT WANT GOT
  [ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
}
expect_match() { # WHAT REGEX TEXT
  grep -Eq -- "$2" <<<"$3" || fail "$1: no match for /$2/ in: $3"
}
unit_prop() { ct systemctl show -p "$2" --value "$1"; }
is_active() { ct systemctl is-active "$1" 2>/dev/null || true; }
listening() { ct ss -Hltn "sport = :$1" | awk '{print $4}' | sort | tr '\n' ' ' | sed 's/ $//'; }
wait_until() { # SECONDS CMD... : poll until CMD succeeds
  local end=$(($(date +%s) + $1)); shift
  until "$@"; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.2
  done
}
agent_journal() { ct journalctl --no-pager -o short-monotonic --after-cursor="$CURSOR" -u aops-agent.service -u aops-agent.socket "$@"; }
api() { ct python3 /opt/e2e/api_check.py "$@"; }
curl_agent() { # ADDR PATH: one request with the saved token, or a made-up one
  ct curl -sS -m 20 -H "access_token: $TOKEN" "http://$1$2"
}

# ---------------------------------------------------------------------------------------------
# Build and preparation
# ---------------------------------------------------------------------------------------------
build_packages() {
  say "== building the RPMs"
  # The container is x86_64: the aarch64 RPM is built and linted by ci/build-rpm.sh in ci/test.sh.
  RPM1=$(RPM_ARCHES=x86_64 bash ci/build-rpm.sh | tail -n 1)
  RPM2=$(RPM_ARCHES=x86_64 RPM_OUT=$WORK/later bash ci/build-rpm.sh -s 'release = "2"' | tail -n 1)
  [ -f "$RPM1" ] && [ -f "$RPM2" ] || { say "RPM build produced no file"; return 1; }
  say "   $(basename "$RPM1") ($(stat -c %s "$RPM1") bytes), $(basename "$RPM2")"
  # The container's RPM database is empty: one fixture package declares the Debian base.
  mkdir -p "$WORK/rpmbuild"
  rpmbuild -bb --quiet --define "_topdir $WORK/rpmbuild" "$HERE/fixtures/sh-provider.spec" >/dev/null
  BASE_RPM=$(ls "$WORK"/rpmbuild/RPMS/noarch/e2e-debian-base-*.rpm)
}

prepare_container() {
  container_build_root
  container_start aops-e2e
  local r=$CT_ROOT
  # The repository starts with release 1 only; release 2 is added for the upgrade (step 6).
  mkdir -p "$r/srv/repo" "$r/srv/later" "$r/opt/e2e" "$r/opt/gala-gopher"
  cp "$RPM1" "$r/srv/repo/"
  cp "$RPM2" "$r/srv/later/"
  cp "$BASE_RPM" "$r/root/"
  cat >"$r/etc/yum.repos.d/aops-e2e.repo" <<'EOF'
[aops-e2e]
name=aops-agent under test
baseurl=file:///srv/repo
enabled=1
gpgcheck=0
metadata_expire=0
EOF
  cp "$HERE/api_check.py" "$HERE/stand-ins/manager.py" "$r/opt/e2e/"
  install -m 0755 "$HERE/stand-ins/gala-gopher" "$r/usr/bin/gala-gopher"
  cp "$HERE/stand-ins/gala-gopher.service" "$HERE/stand-ins/nginx.service" "$r/etc/systemd/system/"
  # As gala-gopher ships it: root:adm 0640 (the rewrite must keep owner, group and mode).
  install -m 0640 -o root -g 4 "$HERE/fixtures/gala-gopher.conf" "$r/opt/gala-gopher/gala-gopher.conf"
  # What file/collect is asked for in step 4.
  printf '# e2e sample\nkey = "v\303\244lue"\n' >"$r/etc/e2e-sample.conf"
  chown root:4 "$r/etc/e2e-sample.conf" && chmod 0640 "$r/etc/e2e-sample.conf"
  ct systemctl daemon-reload
  # (Debian's rpm warns that dpkg owns the system; that is the point of this package.)
  ct rpm -i --quiet /root/"$(basename "$BASE_RPM")" 2>/dev/null
  expect_eq "base package" e2e-debian-base-1-1.noarch "$(ct rpm -q e2e-debian-base)"
  ct createrepo_c -q /srv/repo
  CURSOR=$(ct journalctl --show-cursor -n 0 -q | sed -n 's/^-- cursor: //p')
  [ -n "$CURSOR" ] || { say "no journal cursor"; return 1; }
}

# ---------------------------------------------------------------------------------------------
# Steps (issue 6): each is a named check
# ---------------------------------------------------------------------------------------------
step_1_install() {
  in_ct yum install -y -q aops-agent >"$WORK/yum.log" 2>&1 || { cat "$WORK/yum.log" >&2; fail "yum install aops-agent"; }
  expect_eq "installed release" "aops-agent-$VERSION-1" "$(ct rpm -q --qf '%{NAME}-%{VERSION}-%{RELEASE}' aops-agent)"
  local f
  for f in /usr/bin/aops_agent /usr/lib/systemd/system/aops-agent.socket \
      /usr/lib/systemd/system/aops-agent.service /etc/aops/agent.conf \
      /usr/share/doc/aops-agent/register.json /usr/share/licenses/aops-agent/LICENSE \
      /usr/lib/firewalld/services/aops-agent.xml /usr/lib/systemd/system-preset/80-aops-agent.preset; do
    [ -f "$CT_ROOT$f" ] || fail "$f is missing"
  done
  expect_eq "binary mode" "755 root root" "$(stat -c '%a %U %G' "$CT_ROOT/usr/bin/aops_agent")"
  cmp -s "$CT_ROOT/etc/aops/agent.conf" rpm/agent.conf || fail "agent.conf differs from rpm/agent.conf"
  expect_eq "config files" "/etc/aops/agent.conf" "$(ct rpm -qc aops-agent)"
  expect_eq "generator link" "/usr/bin/aops_agent" \
    "$(ct readlink -f /usr/lib/systemd/system-generators/aops-agent-generator)"
  ct rpm -V aops-agent || fail "rpm -V aops-agent"
  ct systemd-analyze verify --man=no aops-agent.socket aops-agent.service || fail "systemd-analyze verify"
  expect_match "generator drop-in" "^ListenStream=127.0.0.1:$DEFAULT_PORT$" \
    "$(ct cat /run/systemd/generator/aops-agent.socket.d/50-agent-conf.conf)"
  expect_eq "socket enabled" enabled "$(ct systemctl is-enabled aops-agent.socket)"
  expect_eq "socket active" active "$(is_active aops-agent.socket)"
  expect_eq "socket Listen" "127.0.0.1:$DEFAULT_PORT (Stream)" "$(unit_prop aops-agent.socket Listen)"
  expect_eq "listening" "127.0.0.1:$DEFAULT_PORT" "$(listening "$DEFAULT_PORT")"
  expect_eq "service inactive" inactive "$(is_active aops-agent.service)"
  # A guard against losing sandboxing by accident: each remaining exposure is explained in the
  # unit; a new one must be argued for there and this bound raised on purpose.
  ct systemd-analyze security --no-pager aops-agent.service >"$WORK/security.txt" 2>&1 || true
  local exposure
  exposure=$(sed -n 's/.*Overall exposure level for aops-agent.service: \([0-9.]*\).*/\1/p' "$WORK/security.txt")
  say "  systemd-analyze security: exposure ${exposure:-unknown} (bound $MAX_EXPOSURE)"
  [ -n "$exposure" ] && awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' \
    || fail "exposure ${exposure:-unknown} above $MAX_EXPOSURE"
}

step_2_move_socket() {
  ct sed -i -e "s/^ip=.*/ip=$MOVED_IP/" -e "s/^port=.*/port=$MOVED_PORT/" /etc/aops/agent.conf
  # The commands the agent and the README give for applying agent.conf.
  ct systemctl daemon-reload
  ct systemctl restart aops-agent.socket
  expect_eq "socket Listen after the move" "$MOVED_IP:$MOVED_PORT (Stream)" "$(unit_prop aops-agent.socket Listen)"
  expect_eq "listening after the move" "$MOVED_IP:$MOVED_PORT" "$(listening "$MOVED_PORT")"
  expect_eq "old address closed" "" "$(listening "$DEFAULT_PORT")"
  expect_eq "service still inactive" inactive "$(is_active aops-agent.service)"

  # The first connection starts the service.
  api "$MOVED_IP:$MOVED_PORT" "$TOKEN" answers || fail "first request after the move"
  expect_eq "service active after the first connection" active "$(is_active aops-agent.service)"
  expect_eq "status text" "serving on $MOVED_IP:$MOVED_PORT (socket from systemd)" \
    "$(unit_prop aops-agent.service StatusText)"
  # Type=notify: systemd says Started only after READY=1, which the agent sends after its
  # start-up line; a simple service would be "Started" before the program ran at all.
  local j
  j=$(agent_journal -o cat)
  local up started
  up=$(grep -n "aops-agent $VERSION serving on $MOVED_IP:$MOVED_PORT" <<<"$j" | head -n1 | cut -d: -f1)
  started=$(grep -n "^Started " <<<"$j" | tail -n1 | cut -d: -f1)
  [ -n "$up" ] && [ -n "$started" ] && [ "$up" -lt "$started" ] \
    || fail "start-up line (line ${up:-none}) not before systemd's 'Started' (line ${started:-none})"
  expect_eq "service type" notify "$(unit_prop aops-agent.service Type)"

  # agent.conf edited but not applied: the agent says so, with the commands.
  ct sed -i "s/^port=.*/port=$OTHER_PORT/" /etc/aops/agent.conf
  ct systemctl restart aops-agent.service
  local status
  status=$(unit_prop aops-agent.service StatusText)
  expect_match "status text names the mismatch" "asks for $MOVED_IP:$OTHER_PORT.*systemctl daemon-reload" "$status"
  expect_match "journal names the mismatch" "asks for $MOVED_IP:$OTHER_PORT" "$(agent_journal -o cat)"
  # A bad value: daemon-reload still works and the generator writes nothing (the agent itself
  # refuses to start on it, naming the key); the documented commands recover once it is fixed.
  ct sed -i "s/^port=.*/port=abc/" /etc/aops/agent.conf
  ct systemctl daemon-reload
  [ ! -e "$CT_ROOT/run/systemd/generator/aops-agent.socket.d/50-agent-conf.conf" ] \
    || fail "generator wrote a drop-in from a bad agent.conf"
  ! ct systemctl restart aops-agent.service 2>/dev/null || fail "the agent started with port=abc"
  expect_match "journal names the bad key" "port.*abc" "$(agent_journal -o cat | grep -i refusing)"
  ct sed -i "s/^port=.*/port=$MOVED_PORT/" /etc/aops/agent.conf
  ct systemctl daemon-reload
  ct systemctl reset-failed aops-agent.service aops-agent.socket
  ct systemctl restart aops-agent.socket aops-agent.service
  expect_eq "listening after recovery" "$MOVED_IP:$MOVED_PORT" "$(listening "$MOVED_PORT")"
  expect_eq "status text after restoring" "serving on $MOVED_IP:$MOVED_PORT (socket from systemd)" \
    "$(unit_prop aops-agent.service StatusText)"
}

step_3_journal() {
  expect_match "start-up line in journalctl -u aops-agent" \
    "aops-agent\[[0-9]+\]: aops-agent $VERSION serving on" "$(agent_journal)"
  ct sed -i "s/^log_level=.*/log_level=DEBUG/" /etc/aops/agent.conf
  ct systemctl restart aops-agent.service
  curl_agent "$MOVED_IP:$MOVED_PORT" /v1/agent/application/info >/dev/null
  wait_until 5 eval 'agent_journal -o cat | grep -Eq "GET /v1/agent/application/info from 127\.0\.0\.[0-9]+:[0-9]+ -> HTTP 200"' \
    || fail "no DEBUG request line in the journal"
  ct sed -i "s/^log_level=.*/log_level=INFO/" /etc/aops/agent.conf
  ct systemctl restart aops-agent.service
  local n
  n=$(agent_journal -o cat | grep -c "GET /v1/agent/application/info from" || true)
  curl_agent "$MOVED_IP:$MOVED_PORT" /v1/agent/application/info >/dev/null
  sleep 0.5
  expect_eq "no request lines at INFO" "$n" "$(agent_journal -o cat | grep -c "GET /v1/agent/application/info from" || true)"
  ! agent_journal -o cat | grep -qF "$TOKEN" || fail "the token appears in the journal"
}

step_4_register() {
  ct systemd-run -q --unit=stand-in-manager python3 /opt/e2e/manager.py "$MANAGER_PORT" /tmp/manager.json "$TOKEN"
  wait_until 10 eval '[ -n "$(listening "$MANAGER_PORT")" ]' || fail "stand-in manager did not start"
  cat >"$CT_ROOT/root/register.json" <<EOF
{"web_username": "admin", "web_password": "changeme", "host_name": "e2e-host",
 "host_group_name": "e2e-group", "manager_ip": "127.0.0.1", "management": false,
 "manager_port": "$MANAGER_PORT", "agent_port": "$MOVED_PORT"}
EOF
  local conf_before out
  conf_before=$(cat "$CT_ROOT/etc/aops/agent.conf")
  chmod 600 "$CT_ROOT/root/register.json"
  out=$(ct aops_agent register -f /root/register.json 2>&1) || true
  expect_eq "register output" "Agent Register Success" "$(head -n 1 <<<"$out")"
  expect_match "register says who may call now" \
    "^\[agent\] allow_from in /etc/aops/agent.conf is now 127.0.0.1: only the manager" "$(sed -n 2p <<<"$out")"
  # A same-port register adds only allow_from (after the last [agent] key); no other byte moves.
  expect_eq "agent.conf after a same-port register" "$(sed '/^port=/a allow_from=127.0.0.1' <<<"$conf_before")" \
    "$(cat "$CT_ROOT/etc/aops/agent.conf")"
  api "$MOVED_IP:$MOVED_PORT" "$TOKEN" registered /tmp/manager.json || fail "registration request/token"
  api "$MOVED_IP:$MOVED_PORT" "$TOKEN" endpoints || fail "endpoints with the saved token"
  register_moves_port "$OTHER_PORT" && register_moves_port "$MOVED_PORT"
  ct systemctl stop stand-in-manager.service || true
}

# Registering with another agent_port sets [agent] port (no other line changes) and applies it,
# or prints the commands that do; after those the socket listens on the new port.
register_moves_port() {
  local port=$1 before out
  before=$(cat "$CT_ROOT/etc/aops/agent.conf")
  sed -i "s/\"agent_port\": \"[0-9]*\"/\"agent_port\": \"$port\"/" "$CT_ROOT/root/register.json"
  out=$(ct aops_agent register -f /root/register.json 2>&1) || fail "register with agent_port $port: $out"
  expect_eq "register output, first line" "Agent Register Success" "$(head -n 1 <<<"$out")"
  expect_eq "agent.conf after register with agent_port $port" \
    "$(sed "s/^port=.*/port=$port/" <<<"$before")" "$(cat "$CT_ROOT/etc/aops/agent.conf")"
  if [ "$(listening "$port")" != "$MOVED_IP:$port" ]; then
    grep -qF "systemctl daemon-reload && systemctl restart aops-agent.socket aops-agent.service" <<<"$out" \
      || fail "register neither moved the socket nor printed the commands: $out"
    ct systemctl daemon-reload
    ct systemctl restart aops-agent.socket aops-agent.service
  fi
  expect_eq "listening after register with agent_port $port" "$MOVED_IP:$port" "$(listening "$port")"
  api "$MOVED_IP:$port" "$TOKEN" answers || fail "agent on the registered port"
}

step_5_plugin() {
  # Registration is step 4's subject: when it did not leave a token, save one as it would, so
  # this step checks plugin control alone (the agent picks up a new token file by itself).
  if [ ! -s "$CT_ROOT/etc/aops/agent_token.json" ]; then
    say "  (no token from step 4: writing one)"
    printf '{"access_token": "%s"}' "$TOKEN" >"$CT_ROOT/etc/aops/agent_token.json"
    chmod 600 "$CT_ROOT/etc/aops/agent_token.json"
  fi
  expect_eq "stand-in gala-gopher MemoryHigh" 41943040 "$(unit_prop gala-gopher.service MemoryHigh)"
  expect_eq "stand-in gala-gopher CPUQuota" 200ms "$(unit_prop gala-gopher.service CPUQuotaPerSecUSec)"
  api "$MOVED_IP:$MOVED_PORT" "$TOKEN" plugin || fail "plugin control and probe switching"
}

step_8_gopher2() {
  # The host moves to gala-gopher 2.0.2 (its files in /etc/gala-gopher, gopher-ctl, REST, an
  # ExecStop that saves probe state); the agent must notice without a restart of its own.
  if [ ! -s "$CT_ROOT/etc/aops/agent_token.json" ]; then
    printf '{"access_token": "%s"}' "$TOKEN" >"$CT_ROOT/etc/aops/agent_token.json"
    chmod 600 "$CT_ROOT/etc/aops/agent_token.json"
  fi
  ct systemctl stop gala-gopher.service
  bash "$HERE/stand-ins/gala-gopher2/install.sh" "$CT_ROOT"
  ct systemctl daemon-reload
  ct systemctl start gala-gopher.service
  local addr
  addr=$(addr_now)
  api "$addr" "$TOKEN" gopher2-live || fail "gala-gopher 2.x running"
  expect_match "journal names the generation" "gala-gopher probe control: gopher-ctl .*/etc/gala-gopher/gala-gopher.conf" \
    "$(agent_journal -o cat)"
  # The sandbox (ProtectSystem=strict) makes writable only the ReadWritePaths= that existed when
  # the agent started; /etc/gala-gopher came with gala-gopher 2.x, so the agent starts again, as
  # it would at the next boot (README, "gala-gopher").
  ct systemctl restart aops-agent.service
  ct systemctl stop gala-gopher.service
  api "$addr" "$TOKEN" gopher2-stopped || fail "gala-gopher 2.x stopped"
  ct systemctl start gala-gopher.service
  api "$addr" "$TOKEN" gopher2-replayed || fail "gala-gopher 2.x started again"
  ! ct journalctl --no-pager -o cat --after-cursor="$STEP_CURSOR" -u aops-agent.service \
    | grep -q "restarted gala-gopher" || fail "the agent restarted gala-gopher 2.x"
}

step_7_idle() {
  # The agent has no idle timer: an exit of the service (here a clean SIGTERM, as an idle exit
  # would be) leaves the socket listening, and the next request brings the service back.
  curl_agent "$MOVED_IP:$MOVED_PORT" /v1/agent/application/info >/dev/null
  expect_eq "service active" active "$(is_active aops-agent.service)"
  local pid
  pid=$(unit_prop aops-agent.service MainPID)
  ct kill -TERM "$pid"
  wait_until 15 eval '[ "$(is_active aops-agent.service)" = inactive ]' || fail "service did not stop on SIGTERM"
  expect_eq "clean exit" success "$(unit_prop aops-agent.service Result)"
  expect_eq "socket still listening" "$MOVED_IP:$MOVED_PORT" "$(listening "$MOVED_PORT")"
  api "$MOVED_IP:$MOVED_PORT" "$TOKEN" answers || fail "request after the exit"
  expect_eq "service back" active "$(is_active aops-agent.service)"
  [ "$(unit_prop aops-agent.service MainPID)" != "$pid" ] || fail "same MainPID after the exit"
}

step_9_check() {
  # Registered (step 4; a token as it would leave one when run without it).
  if [ ! -s "$CT_ROOT/etc/aops/agent_token.json" ]; then
    say "  (no token from step 4: writing one)"
    printf '{"access_token": "%s"}' "$TOKEN" >"$CT_ROOT/etc/aops/agent_token.json"
    chmod 600 "$CT_ROOT/etc/aops/agent_token.json"
  fi
  local out rc addr ip port
  addr=$(addr_now)
  ip=${addr%:*} port=${addr##*:}
  rc=0; out=$(ct aops_agent check 2>&1) || rc=$?
  say "  aops_agent check (exit $rc):"
  sed 's/^/  | /' <<<"$out" >&2
  expect_eq "check exits 0 after install and registration" 0 "$rc"
  expect_match "check: registered" "^ok +token +/etc/aops/agent_token.json: registered" "$out"
  expect_match "check: socket address" "^(ok|warn) +socket.address +aops-agent.socket listens on $addr, as /etc/aops/agent.conf says" "$out"
  ! grep -qF "$TOKEN" <<<"$out" || fail "check printed the token"
  ct aops_agent check --json | ct python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["ok"] is True and d["counts"]["FAIL"] == 0, d
ids = [c["id"] for c in d["checks"]]
assert ids[:3] == ["agent.conf", "token", "socket.enabled"], ids
' || fail "check --json"
  # The port moved in agent.conf without a daemon-reload: the socket is elsewhere.
  ct sed -i "s/^port=.*/port=$OTHER_PORT/" /etc/aops/agent.conf
  rc=0; out=$(ct aops_agent check 2>&1) || rc=$?
  sed 's/^/  | /' <<<"$out" | grep -A1 'socket.address' >&2 || true
  expect_eq "check exits 1 with the socket elsewhere" 1 "$rc"
  expect_match "check names the mismatch" \
    "^FAIL +socket.address +aops-agent.socket listens on $addr but /etc/aops/agent.conf asks for $ip:$OTHER_PORT$" "$out"
  grep -qF "fix: systemctl daemon-reload && systemctl restart aops-agent.socket aops-agent.service" <<<"$out" \
    || fail "check gives the commands for the mismatch: $out"
  ct sed -i "s/^port=.*/port=$port/" /etc/aops/agent.conf
  rc=0; out=$(ct aops_agent check 2>&1) || rc=$?
  expect_eq "check exits 0 once agent.conf is restored" 0 "$rc"
  # The manual pages are where man finds them.
  expect_eq "man -w aops_agent" /usr/share/man/man8/aops_agent.8.gz "$(ct man -w aops_agent)"
  expect_eq "man -w agent.conf" /usr/share/man/man5/agent.conf.5.gz "$(ct man -w agent.conf)"
  ct man aops_agent 2>/dev/null | grep -q "aops_agent - the A-Ops agent of this host" || fail "man aops_agent"
}

step_6_upgrade_remove() {
  # A running agent and an edited agent.conf (edited in step 2; edit again for steps run alone).
  ct sed -i 's/^backup_count=.*/backup_count=7/' /etc/aops/agent.conf
  local conf pid
  conf=$(cat "$CT_ROOT/etc/aops/agent.conf")
  curl_agent "$(addr_now)" /v1/agent/application/info >/dev/null
  expect_eq "service active before upgrade" active "$(is_active aops-agent.service)"
  pid=$(unit_prop aops-agent.service MainPID)
  cp "$CT_ROOT"/srv/later/*.rpm "$CT_ROOT/srv/repo/"
  ct createrepo_c -q --update /srv/repo
  in_ct yum upgrade -y -q --refresh aops-agent >"$WORK/yum.log" 2>&1 || { cat "$WORK/yum.log" >&2; fail "yum upgrade"; }
  expect_eq "upgraded release" "aops-agent-$VERSION-2" "$(ct rpm -q --qf '%{NAME}-%{VERSION}-%{RELEASE}' aops-agent)"
  expect_eq "edited agent.conf kept" "$conf" "$(cat "$CT_ROOT/etc/aops/agent.conf")"
  [ ! -e "$CT_ROOT/etc/aops/agent.conf.rpmnew" ] || fail "unexpected agent.conf.rpmnew"
  wait_until 10 eval '[ "$(is_active aops-agent.service)" = active ]' || fail "service not active after upgrade"
  [ "$(unit_prop aops-agent.service MainPID)" != "$pid" ] || fail "the running agent was not restarted by the upgrade"
  expect_eq "socket enabled after upgrade" enabled "$(ct systemctl is-enabled aops-agent.socket)"

  in_ct yum remove -y -q aops-agent >"$WORK/yum.log" 2>&1 || { cat "$WORK/yum.log" >&2; fail "yum remove"; }
  expect_eq "package gone" "" "$(ct rpm -qa 'aops-agent*')"
  expect_eq "service stopped" inactive "$(is_active aops-agent.service)"
  expect_eq "socket stopped" inactive "$(is_active aops-agent.socket)"
  expect_eq "units gone" "" "$(ct systemctl list-unit-files --no-legend 'aops-agent*' || true)"
  expect_eq "not listening" "" "$(listening "$MOVED_PORT")"
  local left
  left=$(cd "$CT_ROOT" && find etc usr run/systemd/generator var/lib/systemd \
    -path '*aops*' ! -name aops-e2e.repo 2>/dev/null | sort | tr '\n' ' ' || true)
  expect_eq "files left" "etc/aops etc/aops/agent.conf.rpmsave " "$left"
  expect_eq "rpmsave is the edited agent.conf" "$conf" "$(cat "$CT_ROOT/etc/aops/agent.conf.rpmsave" 2>/dev/null)"
}

step_10_security() {
  [ -s "$CT_ROOT/etc/aops/agent_token.json" ] || {
    printf '{"access_token": "%s"}' "$TOKEN" >"$CT_ROOT/etc/aops/agent_token.json"
    chmod 600 "$CT_ROOT/etc/aops/agent_token.json"
  }
  # Only the manager (step 4 wrote allow_from=127.0.0.1; write it here when run alone).
  grep -q '^allow_from' "$CT_ROOT/etc/aops/agent.conf" || ct sed -i '/^\[agent\]/a allow_from=127.0.0.1' /etc/aops/agent.conf
  ct systemctl restart aops-agent.service
  local addr pid
  addr=$(addr_now)
  api "$addr" "$TOKEN" answers || fail "agent answers before the security checks"
  pid=$(unit_prop aops-agent.service MainPID)
  expect_eq "unit InaccessiblePaths" "-/etc/shadow -/etc/gshadow -/etc/shadow- -/etc/gshadow- -/etc/security/opasswd" \
    "$(unit_prop aops-agent.service InaccessiblePaths)"
  # The agent's own view of the file system, through its mount namespace: the hashes are not
  # there (an empty node, mode 0000), while the host's file is.
  [ "$(ct stat -c %s /etc/shadow)" -gt 0 ] || fail "the container has no /etc/shadow to hide"
  expect_eq "/etc/shadow as the agent sees it" "0 0" "$(ct stat -L -c '%s %a' "/proc/$pid/root/etc/shadow")"
  # Bypassing the rule: a process with the agent's sandbox reads nothing from it either.
  local props=() p
  for p in InaccessiblePaths CapabilityBoundingSet ProtectSystem ProtectHome NoNewPrivileges; do
    props+=(-p "$p=$(unit_prop aops-agent.service "$p")")
  done
  expect_match "bytes of /etc/shadow under the agent's sandbox" "^(0|unreadable)$" \
    "$(ct systemd-run --quiet --wait --pipe "${props[@]}" /bin/sh -c 'wc -c </etc/shadow 2>/dev/null || echo unreadable')"
  # And through the API: refused by the rule, the journal naming it, the audit line the peer.
  local reply
  reply=$(ct curl -sS -m 20 -H "access_token: $TOKEN" -H 'Content-Type: application/json' \
    -d '["/etc/shadow", "/etc/aops/agent_token.json", "/etc/e2e-sample.conf"]' "http://$addr/v1/agent/file/collect")
  expect_match "file/collect refuses the credentials" \
    '"fail_files":\["/etc/shadow","/etc/aops/agent_token.json"\],.*"success_files":\["/etc/e2e-sample.conf"\]' "$reply"
  wait_until 5 eval 'agent_journal -o cat | grep -qF "\"/etc/aops/agent_token.json\" fails: refused: the agent'"'"'s own token file"' \
    || fail "no journal line naming the token-file rule"
  expect_match "journal names the rule for /etc/shadow" "\"/etc/shadow\" fails: refused: a credential file \(built-in rule /etc/shadow\)" \
    "$(agent_journal -o cat)"
  expect_match "audit line" 'audit: file/collect from 127\.0\.0\.1: asked \["/etc/shadow", "/etc/aops/agent_token.json", "/etc/e2e-sample.conf"\]; failed \["/etc/shadow", "/etc/aops/agent_token.json"\]' \
    "$(agent_journal -o cat)"
  # The built-in rules this machine may have no file for, on files made in the container: an
  # SSH host key refused by its name (its content is no PEM block), its public half served;
  # the old-password store refused.
  mkdir -p "$CT_ROOT/etc/ssh" "$CT_ROOT/etc/security"
  printf 'not a PEM block, refused by name\n' >"$CT_ROOT/etc/ssh/ssh_host_e2e_key"
  printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e root@e2e\n' \
    >"$CT_ROOT/etc/ssh/ssh_host_e2e_key.pub"
  printf 'user:1000:1:$6$e2e$hash\n' >"$CT_ROOT/etc/security/opasswd"
  chmod 0600 "$CT_ROOT/etc/ssh/ssh_host_e2e_key" "$CT_ROOT/etc/security/opasswd"
  chmod 0644 "$CT_ROOT/etc/ssh/ssh_host_e2e_key.pub"
  reply=$(ct curl -sS -m 20 -H "access_token: $TOKEN" -H 'Content-Type: application/json' \
    -d '["/etc/ssh/ssh_host_e2e_key", "/etc/ssh/ssh_host_e2e_key.pub", "/etc/security/opasswd"]' \
    "http://$addr/v1/agent/file/collect")
  expect_match "SSH host key and opasswd refused, the public key served" \
    '"fail_files":\["/etc/ssh/ssh_host_e2e_key","/etc/security/opasswd"\],.*"success_files":\["/etc/ssh/ssh_host_e2e_key.pub"\]' "$reply"
  wait_until 5 eval 'agent_journal -o cat | grep -qF "\"/etc/ssh/ssh_host_e2e_key\" fails: refused: a credential file (built-in rule /etc/ssh/ssh_host_*_key)"' \
    || fail "no journal line naming the SSH host key rule"
  rm -f "$CT_ROOT/etc/ssh/ssh_host_e2e_key" "$CT_ROOT/etc/ssh/ssh_host_e2e_key.pub" "$CT_ROOT/etc/security/opasswd"
  # allow_from under systemd: another loopback address gets no byte, and the journal says so.
  local other
  other=$(ct curl -sS -m 10 --interface 127.0.0.3 -H "access_token: $TOKEN" "http://$addr/v1/agent/host/info" 2>&1 || true)
  expect_match "a call from 127.0.0.3 gets no answer" "Empty reply|reset|Recv failure" "$other"
  wait_until 5 eval 'agent_journal -o cat | grep -q "refused a connection from 127.0.0.3: not in \[agent\] allow_from of /etc/aops/agent.conf"' \
    || fail "no journal line for the refused connection"
  ! agent_journal -o cat | grep -qF "$TOKEN" || fail "the token appears in the journal"
}

# The previous agent (Python, v1.x: Type=exec unit enabled in multi-user.target, no socket unit,
# token file 0644) becomes this one with `yum update aops-agent`, and the host stays registered.
step_11_previous_agent() {
  local prev_port=12088 old_token=e2e-previous-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  local src=/root/previous-agent top=/root/previous-rpmbuild rpm_file out
  # From no aops-agent: remove what earlier steps left (step 6 does when it ran).
  if ct rpm -q aops-agent >/dev/null 2>&1; then
    in_ct yum remove -y -q aops-agent >"$WORK/yum.log" 2>&1 || { cat "$WORK/yum.log" >&2; fail "removing aops-agent first"; }
  fi
  rm -rf "$CT_ROOT/etc/aops"

  # The previous package, built here with the container's rpmbuild.
  mkdir -p "$CT_ROOT$src"
  cp "$HERE"/fixtures/previous-agent/* "$HERE/fixtures/previous-agent.spec" "$CT_ROOT$src/"
  ct rpmbuild -bb --quiet --define "_topdir $top" --define "_sourcedir $src" "$src/previous-agent.spec" \
    >"$WORK/rpmbuild.log" 2>&1 || { cat "$WORK/rpmbuild.log" >&2; fail "rpmbuild of the previous agent"; }
  rpm_file=$(cd "$CT_ROOT" && ls "${top#/}"/RPMS/*/aops-agent-v1.3.0-1.*.rpm)
  in_ct yum install -y -q "/$rpm_file" >"$WORK/yum.log" 2>&1 || { cat "$WORK/yum.log" >&2; fail "installing the previous agent"; }
  expect_eq "previous agent installed" "aops-agent-v1.3.0-1" "$(ct rpm -q --qf '%{NAME}-%{VERSION}-%{RELEASE}' aops-agent)"
  # As its operator ran it: another port in agent.conf, the service enabled and started,
  # registered (its register wrote the token with the default umask).
  ct sed -i "s/^port=.*/port=$prev_port/" /etc/aops/agent.conf
  ct systemctl enable -q --now aops-agent.service
  ct sh -c "umask 022; printf '{\"access_token\": \"%s\"}' '$old_token' >/etc/aops/agent_token.json"
  wait_until 10 eval '[ "$(listening "$prev_port")" = "127.0.0.1:$prev_port" ]' || fail "the previous agent does not listen"
  expect_eq "previous agent enabled" enabled "$(ct systemctl is-enabled aops-agent.service)"
  [ -L "$CT_ROOT/etc/systemd/system/multi-user.target.wants/aops-agent.service" ] || fail "no multi-user.target enablement"
  expect_eq "token mode before" 644 "$(stat -c %a "$CT_ROOT/etc/aops/agent_token.json")"
  local conf_before=$WORK/agent.conf.before token_before
  cp "$CT_ROOT/etc/aops/agent.conf" "$conf_before"
  token_before=$(cat "$CT_ROOT/etc/aops/agent_token.json")

  out=$(ct yum update -y aops-agent 2>&1) || { say "$out"; fail "yum update aops-agent"; }
  say "  yum update aops-agent:"
  grep -E 'aops-agent|Upgrad|Complete|Running scriptlet|token' <<<"$out" | sed 's/^/    /' >&2 || true
  expect_eq "upgraded to" "aops-agent-$VERSION" "$(ct rpm -q --qf '%{NAME}-%{VERSION}' aops-agent)"
  cmp "$conf_before" "$CT_ROOT/etc/aops/agent.conf" || fail "agent.conf changed"
  if [ -e "$CT_ROOT/etc/aops/agent.conf.rpmnew" ]; then
    cmp rpm/agent.conf "$CT_ROOT/etc/aops/agent.conf.rpmnew" || fail "agent.conf.rpmnew is not the new default"
    say "  agent.conf kept; the new default is agent.conf.rpmnew"
  fi
  expect_eq "token kept" "$token_before" "$(cat "$CT_ROOT/etc/aops/agent_token.json")"
  expect_eq "token mode after" "600 root" "$(stat -c '%a %U' "$CT_ROOT/etc/aops/agent_token.json")"
  expect_eq "stale enablement" "" "$(cd "$CT_ROOT/etc/systemd/system" && find . -name aops-agent.service)"
  expect_eq "socket enabled" enabled "$(ct systemctl is-enabled aops-agent.socket)"
  expect_eq "socket active" active "$(is_active aops-agent.socket)"
  expect_eq "listening on agent.conf's address" "127.0.0.1:$prev_port" "$(listening "$prev_port")"
  expect_match "the listener is systemd's" 'users:\(\("systemd",pid=1,' "$(ct ss -Hltnp "sport = :$prev_port")"
  expect_eq "previous agent stopped" inactive "$(is_active aops-agent.service)"
  local reply
  reply=$(ct curl -sS -m 20 -H "access_token: $old_token" "http://127.0.0.1:$prev_port/v1/agent/host/info")
  expect_match "old token accepted" '"code": ?200' "$reply"
  api "127.0.0.1:$prev_port" "$old_token" wrong-token || fail "a wrong token is still refused"
  expect_eq "status text" "serving on 127.0.0.1:$prev_port (socket from systemd)" "$(unit_prop aops-agent.service StatusText)"
  # rpm -V reports the operator's edit of agent.conf (a config file, flagged c), nothing else.
  ct rpm -V --noconfig aops-agent || fail "rpm -V --noconfig aops-agent"
  expect_match "rpm -V aops-agent" '^[.SM5DLUGTP]{9} +c /etc/aops/agent.conf$' "$(ct rpm -V aops-agent || true)"
  expect_match "changelog" "^\* .* - $VERSION-" "$(head -n 1 "$CT_ROOT/usr/share/doc/aops-agent/changelog")"
  say "  socket on 127.0.0.1:$prev_port, token 0600 and accepted, agent.conf unchanged, rpm -V: $(ct rpm -V aops-agent | tr -s ' ' || true)"

  # dnf sees the previous version as older: an update to it is refused, and with it in the
  # repository an update keeps this one. (dnf install/downgrade of aops-agent-v1.3.0 would still go
  # back on purpose.)
  out=$(ct yum update -y "/$rpm_file" 2>&1) || { say "$out"; fail "yum update to v1.3.0 failed outright"; }
  say "  yum update /$rpm_file: $(grep -i 'already installed' <<<"$out")"
  expect_match "update to v1.3.0 refused" "The same or higher version of aops-agent is already installed, cannot update it" "$out"
  expect_eq "still $VERSION after the refused update" "aops-agent-$VERSION" "$(ct rpm -q --qf '%{NAME}-%{VERSION}' aops-agent)"
  cp "$CT_ROOT/$rpm_file" "$CT_ROOT/srv/repo/"
  ct createrepo_c -q --update /srv/repo
  ct yum update -y -q --refresh aops-agent >/dev/null 2>&1 || fail "yum update with v1.3.0 in the repository"
  expect_eq "still $VERSION with v1.3.0 in the repository" "aops-agent-$VERSION" "$(ct rpm -q --qf '%{NAME}-%{VERSION}' aops-agent)"
  rm -f "$CT_ROOT/srv/repo/$(basename "$rpm_file")"
  ct createrepo_c -q --update /srv/repo
}

# Where the agent listens now (step 6 may run without step 2).
addr_now() { unit_prop aops-agent.socket Listen | sed 's/ (Stream)//'; }

# ---------------------------------------------------------------------------------------------
declare -A NAMES=([1]=step_1_install [2]=step_2_move_socket [3]=step_3_journal
  [4]=step_4_register [5]=step_5_plugin [6]=step_6_upgrade_remove [7]=step_7_idle
  [8]=step_8_gopher2 [9]=step_9_check [10]=step_10_security [11]=step_11_previous_agent)
RESULTS=()
FAILED=0

run_step() {
  local n=$1 fn=${NAMES[$1]} t0 rc
  say "== step $n: $fn"
  t0=$(date +%s)
  STEP_CURSOR=$(ct journalctl --show-cursor -n 0 -q | sed -n 's/^-- cursor: //p')
  # A subshell with errexit: the first failing command ends the step, later steps still run.
  set +e
  (set -eE; trap 'say "  failed at line $LINENO: $BASH_COMMAND"' ERR; "$fn")
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    RESULTS+=("PASS step $n $fn ($(($(date +%s) - t0)) s)")
  else
    FAILED=1
    RESULTS+=("FAIL step $n $fn")
    say "  -- journal of aops-agent during step $n:"
    ct journalctl --no-pager --no-hostname -o short-monotonic --after-cursor="$STEP_CURSOR" \
      -u aops-agent.service -u aops-agent.socket -u gala-gopher.service -u stand-in-manager.service \
      2>&1 | tail -n 80 >&2 || true
  fi
}

build_packages
prepare_container
for n in $STEPS; do
  run_step "$n"
done
say ""
say "== end-to-end summary ($(($(date +%s) - SUITE_START)) s)"
printf '%s\n' "${RESULTS[@]}" >&2
[ -f "$WORK/security.txt" ] && grep -E 'Overall exposure level' "$WORK/security.txt" >&2 || true
exit "$FAILED"
