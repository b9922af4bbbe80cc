# shellcheck shell=bash
# A throw-away Debian 12 machine booted under systemd-nspawn, for tests that need a real systemd.
# Source this file, then:
#   container_build_root            build the cached root when absent or when its package list changed
#   container_start NAME            boot a fresh copy of the cached root; sets CT_PID and CT_ROOT
#   ct CMD...                       run CMD inside the running container (root, container's PATH)
#   container_stop                  power it off, kill what is left, remove the copy
#   container_reap_stale            remove copies left by runs that were killed (start does this)
# Only the cache directory and the container's own copy are written on the host.

E2E_CACHE=${E2E_CACHE:-/var/cache/aops-agent-e2e}
E2E_MIRROR=${E2E_MIRROR:-http://deb.debian.org/debian}
E2E_SUITE=${E2E_SUITE:-bookworm}
# Give the container its own network namespace (own loopback) unless told otherwise: ports inside
# can then never collide with whatever the host is running.
E2E_PRIVATE_NETWORK=${E2E_PRIVATE_NETWORK:-1}
E2E_PACKAGES=(systemd systemd-sysv dbus rpm dnf createrepo-c python3 curl procps iproute2 man-db)

CT_PID=
CT_ROOT=
CT_NSPAWN_PID=
CT_RUN_DIR=
CT_OVERLAY=0

ct_log() { echo "container: $*" >&2; }

# The stamp names everything that shapes the root: rebuild when any of it changes.
container_stamp() {
  printf '%s\n' "suite=$E2E_SUITE" "mirror=$E2E_MIRROR" "layout=1" "${E2E_PACKAGES[@]}"
}

container_build_root() {
  local root=$E2E_CACHE/root stamp
  stamp=$(container_stamp)
  if [ -d "$root" ] && [ "$(cat "$E2E_CACHE/root.stamp" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  command -v debootstrap >/dev/null || { ct_log "debootstrap is missing (bash ci/setup.sh)"; return 1; }
  mkdir -p "$E2E_CACHE"
  local new=$E2E_CACHE/root.new
  rm -rf "$new"
  ct_log "building the Debian root in $root (packages: ${E2E_PACKAGES[*]})"
  local include
  include=$(IFS=,; echo "${E2E_PACKAGES[*]}")
  if ! debootstrap --variant=minbase --include="$include" "$E2E_SUITE" "$new" "$E2E_MIRROR" \
      >"$E2E_CACHE/debootstrap.log" 2>&1; then
    tail -n 30 "$E2E_CACHE/debootstrap.log" >&2
    ct_log "debootstrap failed (full log: $E2E_CACHE/debootstrap.log)"
    rm -rf "$new"
    return 1
  fi
  # What the tests expect of a small server: `yum` is dnf, dnf needs no release package, the
  # journal keeps what the tests read, nothing waits for a network or a login on the console.
  [ -e "$new/usr/bin/yum" ] || ln -s dnf "$new/usr/bin/yum"
  mkdir -p "$new/etc/dnf/vars" "$new/etc/yum.repos.d" "$new/var/log/journal"
  echo 12 >"$new/etc/dnf/vars/releasever"
  echo aops-e2e >"$new/etc/hostname"
  : >"$new/etc/machine-id"
  ln -sf /dev/null "$new/etc/systemd/system/console-getty.service"
  ln -sf /dev/null "$new/etc/systemd/system/getty@.service"
  ln -sf /dev/null "$new/etc/systemd/system/apt-daily.timer"
  ln -sf /dev/null "$new/etc/systemd/system/apt-daily-upgrade.timer"
  rm -rf "$new/var/cache/apt/archives/"*.deb
  rm -rf "$root"
  mv "$new" "$root"
  echo "$stamp" >"$E2E_CACHE/root.stamp"
  ct_log "root ready ($(du -sh "$root" | cut -f1))"
}

# Runs killed before their cleanup leave an overlay mounted: drop those whose systemd-nspawn is
# gone (a run under way keeps its process, and its directory).
container_reap_stale() {
  local d pid
  for d in "$E2E_CACHE"/run.*; do
    [ -d "$d" ] || continue
    pid=$(cat "$d/nspawn.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      continue
    fi
    umount "$d/merged" 2>/dev/null || true
    mountpoint -q "$d/merged" 2>/dev/null || rm -rf "$d"
  done
}

# Boot a fresh copy of the cached root. An overlay keeps the cache untouched and costs nothing;
# where overlayfs is unavailable a full copy does the same, slower.
container_start() {
  local name=${1:-aops-e2e}
  container_reap_stale
  CT_RUN_DIR=$(mktemp -d "$E2E_CACHE/run.XXXXXX")
  CT_ROOT=$CT_RUN_DIR/merged
  mkdir -p "$CT_RUN_DIR/upper" "$CT_RUN_DIR/work" "$CT_ROOT"
  if mount -t overlay overlay \
      -o "lowerdir=$E2E_CACHE/root,upperdir=$CT_RUN_DIR/upper,workdir=$CT_RUN_DIR/work" \
      "$CT_ROOT" 2>/dev/null; then
    CT_OVERLAY=1
  else
    ct_log "overlayfs unavailable: copying the root"
    cp -a "$E2E_CACHE/root/." "$CT_ROOT/"
  fi
  local net=()
  [ "$E2E_PRIVATE_NETWORK" = 1 ] && net=(--private-network)
  setsid systemd-nspawn -D "$CT_ROOT" --boot --register=no --keep-unit --machine="$name" \
    "${net[@]}" --console=read-only </dev/null >"$CT_RUN_DIR/console.log" 2>&1 &
  CT_NSPAWN_PID=$!
  echo "$CT_NSPAWN_PID" >"$CT_RUN_DIR/nspawn.pid"

  # The container's PID 1 is the child of systemd-nspawn that is PID 1 in its own namespace.
  local i p
  for i in $(seq 1 100); do
    for p in $(pgrep -P "$CT_NSPAWN_PID" 2>/dev/null); do
      if awk '/^NSpid:/ { exit !($NF == 1 && NF > 2) }' "/proc/$p/status" 2>/dev/null; then
        CT_PID=$p
        break 2
      fi
    done
    if ! kill -0 "$CT_NSPAWN_PID" 2>/dev/null; then
      cat "$CT_RUN_DIR/console.log" >&2
      ct_log "systemd-nspawn exited during boot"
      return 1
    fi
    sleep 0.1
  done
  [ -n "$CT_PID" ] || { ct_log "no container PID 1 after 10 s"; return 1; }

  # Wait until systemd has finished booting (degraded is fine: a container lacks some hardware).
  local state=
  for i in $(seq 1 300); do
    state=$(ct systemctl is-system-running 2>/dev/null || true)
    case $state in running|degraded) break ;; esac
    sleep 0.1
  done
  case $state in
    running|degraded) ct_log "booted (PID 1 = $CT_PID, state $state)" ;;
    *)
      cat "$CT_RUN_DIR/console.log" >&2
      ct_log "boot did not finish in 30 s (state: ${state:-unknown})"
      return 1 ;;
  esac
}

# Run a command inside the container with a clean environment.
ct() {
  nsenter -t "$CT_PID" -a -- /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}

# Power off from inside (killing systemd-nspawn alone leaves the container running), then make
# sure nothing is left, then drop the copy.
container_stop() {
  local i
  if [ -n "$CT_PID" ] && kill -0 "$CT_PID" 2>/dev/null; then
    ct systemctl --no-block poweroff >/dev/null 2>&1 || true
    for i in $(seq 1 100); do
      kill -0 "$CT_NSPAWN_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$CT_PID" 2>/dev/null; then
      ct_log "container still up after 10 s: killing its PID 1 ($CT_PID)"
      kill -KILL "$CT_PID" 2>/dev/null || true
    fi
  fi
  if [ -n "$CT_NSPAWN_PID" ]; then
    for i in $(seq 1 50); do
      kill -0 "$CT_NSPAWN_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$CT_NSPAWN_PID" 2>/dev/null || true
    wait "$CT_NSPAWN_PID" 2>/dev/null || true
  fi
  if [ -n "$CT_RUN_DIR" ] && [ -d "$CT_RUN_DIR" ]; then
    if [ "$CT_OVERLAY" = 1 ]; then
      umount "$CT_ROOT" 2>/dev/null || umount -l "$CT_ROOT" 2>/dev/null || true
    fi
    if mountpoint -q "$CT_ROOT" 2>/dev/null; then
      ct_log "$CT_ROOT is still mounted: leaving $CT_RUN_DIR in place"
    else
      rm -rf "$CT_RUN_DIR"
    fi
  fi
  CT_PID= CT_NSPAWN_PID= CT_RUN_DIR= CT_ROOT= CT_OVERLAY=0
}
