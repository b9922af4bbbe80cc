#!/usr/bin/env bash
# The performance table of aops-agent, measured under a real systemd:
#   bash ci/bench/run.sh
# builds the release RPM, installs it in a booted Debian 12 container (ci/e2e/container.sh),
# socket-activates the service and measures it from the host over loopback with wrk. Prints a
# markdown table and writes the same figures as JSON ($BENCH_OUT, default target/bench/bench.json).
# Knobs: BENCH_RUNS (runs per figure, default 3), BENCH_SECONDS (per wrk run, default 5),
# BENCH_IDLE_SECONDS (idle CPU window, default 60), BENCH_HOST_IDLE_SECONDS (how long the host
# build idles before its RSS is read, default 10).
# Not part of the test command: timings on a shared machine are noisy, so they are reported,
# never asserted.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"

RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-5}
IDLE=${BENCH_IDLE_SECONDS:-60}
HOST_IDLE=${BENCH_HOST_IDLE_SECONDS:-10}
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
OUT=${BENCH_OUT:-$TARGET_DIR/bench/bench.json}
# wrk runs on the host, so the container shares the host's loopback.
export E2E_PRIVATE_NETWORK=0
# shellcheck source=../e2e/container.sh
source "$REPO/ci/e2e/container.sh"

say() { printf '%s\n' "$*" >&2; }

bash ci/setup.sh
# wrk only for the bench (ci/setup.sh already brings strace for the tests).
if ! command -v wrk >/dev/null; then
  say "bench: installing wrk"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/aops-bench.XXXXXX")
SAMPLES=$WORK/samples.jsonl
HOST_AGENT=
cleanup() {
  local rc=$?
  [ -z "$HOST_AGENT" ] || kill "$HOST_AGENT" 2>/dev/null || true
  if [ "$rc" != 0 ] && [ -n "$CT_PID" ]; then
    say "bench failed; the agent's journal:"
    ct journalctl --no-pager -n 40 -u aops-agent.service -u aops-agent.socket >&2 || true
  fi
  container_stop || true
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sample() { # FIGURE VALUE [ENDPOINT CONNECTIONS]
  printf '{"figure": "%s", "value": %s, "endpoint": "%s", "connections": %s}\n' \
    "$1" "$2" "${3:-}" "${4:-0}" >>"$SAMPLES"
}

say "== building the release RPM"
RPM=$(RPM_ARCHES=x86_64 bash ci/build-rpm.sh | tail -n 1)
BIN=$TARGET_DIR/x86_64-unknown-linux-musl/release/aops_agent
say "== building for the host (the README's run command)"
cargo build --release --locked >&2

say "== booting the container"
container_build_root
container_start aops-bench
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TOKEN=bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
r=$CT_ROOT
mkdir -p "$r/opt/gala-gopher" "$r/etc/aops"
cp "$RPM" "$r/root/aops-agent.rpm"
install -m 0755 ci/e2e/stand-ins/gala-gopher "$r/usr/bin/gala-gopher"
cp ci/e2e/stand-ins/gala-gopher.service "$r/etc/systemd/system/"
install -m 0640 -o root -g 4 ci/e2e/fixtures/gala-gopher.conf "$r/opt/gala-gopher/gala-gopher.conf"
for i in 1 2 3; do echo "setting_$i = $i;" >"$r/etc/bench-$i.conf"; done
# The RPM's requirements are Debian's base system here, which rpm's database does not know.
ct rpm -i --nodeps --quiet /root/aops-agent.rpm 2>/dev/null
cat >"$r/etc/aops/agent.conf" <<CONF
[agent]
ip=127.0.0.1
port=$PORT
[gopher]
config_path=/opt/gala-gopher/gala-gopher.conf
[log]
log_level=INFO
CONF
printf '{"access_token": "%s"}' "$TOKEN" >"$r/etc/aops/agent_token.json"
chmod 0600 "$r/etc/aops/agent_token.json"
ct systemctl daemon-reload
ct systemctl restart aops-agent.socket
ct systemctl start gala-gopher.service
for i in $(seq 1 50); do
  ct ss -Hltn "sport = :$PORT" | grep -q . && break
  sleep 0.1
done

main_pid_host() { # the service's main process, as the host numbers it
  local inner p
  inner=$(ct systemctl show -p MainPID --value aops-agent.service)
  [ "$inner" != 0 ] || { say "aops-agent.service is not running"; return 1; }
  for p in $(pgrep -x aops_agent); do
    # In the container's PID namespace (two numbers on NSpid), numbered as systemd said.
    if awk -v want="$inner" '/^NSpid:/ { exit !(NF > 2 && $NF == want) }' "/proc/$p/status"; then
      echo "$p"
      return 0
    fi
  done
  say "no host process for container PID $inner"
  return 1
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
huge_kb() { awk '$1 == "AnonHugePages:" { print $2 }' "/proc/$1/smaps_rollup"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

say "== sizes"
sample binary_bytes "$(stat -c %s "$BIN")"
sample rpm_bytes "$(stat -c %s "$RPM")"

say "== cold and warm start"
for i in $(seq 1 $((RUNS * 3))); do
  ct systemctl stop aops-agent.service 2>/dev/null
  # Starting it this often would trip systemd's start limit (5 in 10 s) and fail the socket.
  ct systemctl reset-failed aops-agent.service aops-agent.socket
  sample cold_ms "$(python3 "$HERE/firstbyte.py" 127.0.0.1 "$PORT" "$TOKEN")"
  sleep 0.2
  sample warm_ms "$(python3 "$HERE/firstbyte.py" 127.0.0.1 "$PORT" "$TOKEN")"
done

say "== idle for ${IDLE} s"
PID=$(main_pid_host)
sleep 2
t0=$(cpu_ticks "$PID")
sleep "$IDLE"
t1=$(cpu_ticks "$PID")
[ "$PID" = "$(main_pid_host)" ] || { say "the service restarted while idle"; exit 1; }
sample idle_cpu_ticks "$((t1 - t0))"
sample idle_rss_kb "$(status_kb "$PID" VmRSS)"
sample idle_huge_kb "$(huge_kb "$PID")"

# The README's run command builds for the host (glibc, dynamically linked). Its memory does not
# depend on systemd, so it runs here directly, on a port of its own, and is read after idling.
say "== the host build (cargo build --release), idle for ${HOST_IDLE} s"
HOST_DIR=$WORK/host-build
mkdir -p "$HOST_DIR"
HOST_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf '{"access_token": "%s"}' "$TOKEN" >"$HOST_DIR/agent_token.json"
printf '[agent]\nip=127.0.0.1\nport=%s\ntoken_file=%s\n[log]\nlog_level=INFO\n' \
  "$HOST_PORT" "$HOST_DIR/agent_token.json" >"$HOST_DIR/agent.conf"
AOPS_AGENT_LOG=stderr "$TARGET_DIR/release/aops_agent" -c "$HOST_DIR/agent.conf" start \
  2>"$HOST_DIR/log" &
HOST_AGENT=$!
sleep "$HOST_IDLE"
kill -0 "$HOST_AGENT" 2>/dev/null || { say "the host build exited:"; cat "$HOST_DIR/log" >&2; exit 1; }
sample host_idle_rss_kb "$(status_kb "$HOST_AGENT" VmRSS)"
sample host_idle_huge_kb "$(huge_kb "$HOST_AGENT")"
kill "$HOST_AGENT"
wait "$HOST_AGENT" 2>/dev/null || true
HOST_AGENT=

# endpoint name | method | path | body | alternate body (toggles) | token
ENDPOINTS=(
  "host/info (all 4)|GET|/v1/agent/host/info|||$TOKEN"
  "plugin/info|GET|/v1/agent/plugin/info|||$TOKEN"
  "application/info|GET|/v1/agent/application/info|||$TOKEN"
  'file/collect (3 files)|POST|/v1/agent/file/collect|["/etc/bench-1.conf","/etc/bench-2.conf","/etc/bench-3.conf"]||'"$TOKEN"
  'collect/items/change (1 probe)|POST|/v1/agent/collect/items/change|{"gala-gopher":{"tcp":"on"}}|{"gala-gopher":{"tcp":"off"}}|'"$TOKEN"
  "1201 rejection|GET|/v1/agent/host/info|||wrong-token"
)

# Successful execve calls in the service's process tree over 20 sequential requests, per request.
count_procs() { # NAME METHOD PATH BODY BODY2 TOKEN
  local name=$1 method=$2 path=$3 body=$4 body2=$5 token=$6 pid spid i b n
  pid=$(main_pid_host)
  strace -f -qq -e trace=execve -o "$WORK/strace" -p "$pid" &
  spid=$!
  sleep 0.5
  for i in $(seq 1 20); do
    b=$body
    [ -n "$body2" ] && [ $((i % 2)) = 0 ] && b=$body2
    if [ -n "$b" ]; then
      curl -sS -o /dev/null -X "$method" -H "access_token: $token" \
        -H 'Content-Type: application/json' -d "$b" "http://127.0.0.1:$PORT$path"
    else
      curl -sS -o /dev/null -X "$method" -H "access_token: $token" "http://127.0.0.1:$PORT$path"
    fi
  done
  # A coalesced gala-gopher restart runs after the requests: give it time to show up.
  sleep 3
  kill "$spid" 2>/dev/null || true
  wait "$spid" 2>/dev/null || true
  # Only exec calls that succeeded: a PATH search tries several directories first.
  n=$(grep -c 'execve(.*= 0$' "$WORK/strace" || true)
  sample procs_per_request "$(python3 -c "print($n / 20)")" "$name"
}

say "== processes spawned per request (strace on the service, 20 sequential requests each)"
for e in "${ENDPOINTS[@]}"; do
  IFS='|' read -r name method path body body2 token <<<"$e"
  count_procs "$name" "$method" "$path" "$body" "$body2" "$token"
done

# Requests of a finished run that were still queued for the worker threads are still answered
# (wrk has hung up); wait until a request through the same queue comes back before the next run.
settle() {
  curl -sS -m 120 -o /dev/null -H "access_token: $TOKEN" "http://127.0.0.1:$PORT/v1/agent/host/info"
}

# RUNS wrk runs of SECS seconds at CONNS connections; keeps the peak RSS of 256-connection runs.
peak=0
wrk_runs() { # NAME METHOD PATH BODY BODY2 TOKEN CONNS
  local name=$1 method=$2 path=$3 body=$4 body2=$5 token=$6 conns=$7 threads=2 run line hwm
  [ "$conns" = 1 ] && threads=1
  for run in $(seq 1 "$RUNS"); do
    settle
    # Each 256-connection run's own peak: "5" resets the process's VmHWM to its current RSS.
    if [ "$conns" = 256 ]; then echo 5 >"/proc/$(main_pid_host)/clear_refs"; fi
    line=$(BENCH_METHOD=$method BENCH_PATH=$path BENCH_TOKEN=$token BENCH_BODY=$body \
      BENCH_BODY2=$body2 wrk -t "$threads" -c "$conns" -d "${SECS}s" --timeout 20s -s "$HERE/wrk.lua" \
      "http://127.0.0.1:$PORT" | sed -n 's/^BENCH //p')
    [ -n "$line" ] || { say "wrk printed no result for $name at $conns connections"; exit 1; }
    read -r reqs dur p50 p99 errs < <(python3 -c '
import json, sys
d = json.loads(sys.argv[1])
print(d["requests"], d["duration_us"], d["p50_us"], d["p99_us"], d["errors"])' "$line")
    sample rps "$(python3 -c "print(round($reqs / ($dur / 1e6)))")" "$name" "$conns"
    sample p50_us "$p50" "$name" "$conns"
    sample p99_us "$p99" "$name" "$conns"
    sample errors "$errs" "$name" "$conns"
    if [ "$conns" = 256 ]; then
      hwm=$(status_kb "$(main_pid_host)" VmHWM)
      [ "$hwm" -gt "$peak" ] && peak=$hwm
      sample run_peak_rss_kb "$hwm" "$name" "$conns"
    fi
  done
  say "   $name, $conns connections: done"
}

say "== wrk: ${RUNS} runs of ${SECS} s per endpoint and connection count"
for e in "${ENDPOINTS[@]}"; do
  IFS='|' read -r name method path body body2 token <<<"$e"
  for conns in 1 16 256; do
    wrk_runs "$name" "$method" "$path" "$body" "$body2" "$token" "$conns"
  done
done
sample peak_rss_kb "$peak"

# The same two gala-gopher endpoints against gala-gopher 2.x (gopher-ctl, REST).
# shellcheck source=gopher2.sh
source "$HERE/gopher2.sh"

machine="$(nproc) cores, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(free -g | awk '/^Mem:/ { print $2 }') GiB, kernel $(uname -r)"
python3 - "$SAMPLES" "$machine" "$RUNS" "$IDLE" "$HOST_IDLE" "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo '?')" <<'PY'
import datetime, json, sys
meta = {"machine": sys.argv[2], "runs": int(sys.argv[3]), "idle_seconds": int(sys.argv[4]),
        "host_idle_seconds": int(sys.argv[5]), "load_start": sys.argv[6], "load_end": sys.argv[7],
        "thp": sys.argv[8],
        "date": datetime.date.today().isoformat(), "command": "bash ci/bench/run.sh"}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"figure": "meta", "meta": meta}) + "\n")
PY
mkdir -p "$(dirname "$OUT")"
python3 "$HERE/report.py" "$SAMPLES" "$OUT"
say "figures written to $OUT"
