//! A stand-in `systemctl` for integration tests: a bash script that keeps unit state in a
//! directory (one file per property), answers `show` and `list-units` in systemd's format, runs start, stop and
//! try-restart, and logs every invocation so tests can count the processes a request spawned.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const SCRIPT: &str = r#"#!/bin/bash
# Stand-in for systemctl. State: $STANDIN_DIR/units/<unit>/<Property>.
dir="$STANDIN_DIR"
# A systemd that does not answer (the agent must bound every call).
[ -f "$dir/hang" ] && exec sleep 600
now_usec() { local up; read -r up _ < /proc/uptime; echo $(( 10#${up/./} * 10000 )); }
line="$*"
if [ "$2" = try-restart ] && [ -n "$STANDIN_WATCH" ]; then
    line="$line $(cksum < "$STANDIN_WATCH")"
fi
echo "$line" >> "$dir/calls.log"
props=()
units=()
verb=""
while [ $# -gt 0 ]; do
    case "$1" in
        -p) IFS=, read -r -a props <<< "$2"; shift 2 ;;
        --) shift; units+=("$@"); break ;;
        --*) shift ;;
        *) if [ -z "$verb" ]; then verb="$1"; else units+=("$1"); fi; shift ;;
    esac
done
case "$verb" in
show)
    first=1
    for u in "${units[@]}"; do
        [ $first = 1 ] || echo
        first=0
        for p in "${props[@]}"; do
            if [ -d "$dir/units/$u" ]; then
                v=""
                [ -f "$dir/units/$u/$p" ] && v="$(cat "$dir/units/$u/$p")"
            else
                case "$p" in
                    Id) v="$u" ;; LoadState) v=not-found ;; ActiveState) v=inactive ;;
                    *) v="" ;;
                esac
            fi
            echo "$p=$v"
        done
    done ;;
list-units)
    for u in "${units[@]}"; do
        [ -d "$dir/units/$u" ] || continue
        printf '%s loaded %s running stand-in\n' "$u" "$(cat "$dir/units/$u/ActiveState")"
    done ;;
start|stop|try-restart)
    u="${units[0]}"
    if [ ! -d "$dir/units/$u" ]; then echo "Failed to $verb $u: Unit $u not found." >&2; exit 5; fi
    if [ -f "$dir/fail-$verb" ]; then cat "$dir/fail-$verb" >&2; exit 1; fi
    case "$verb" in
        start) echo active > "$dir/units/$u/ActiveState"; now_usec > "$dir/units/$u/ActiveEnterTimestampMonotonic" ;;
        stop) echo inactive > "$dir/units/$u/ActiveState" ;;
        try-restart)
            if [ "$(cat "$dir/units/$u/ActiveState")" = active ]; then
                now_usec > "$dir/units/$u/ActiveEnterTimestampMonotonic"
            fi ;;
    esac ;;
*) echo "Unknown command verb $verb." >&2; exit 1 ;;
esac
"#;

pub struct Standin {
    pub dir: PathBuf,
}

impl Standin {
    /// Writes the script and an empty state into `dir`.
    pub fn new(dir: &Path) -> Standin {
        std::fs::create_dir_all(dir.join("units")).unwrap();
        let script = dir.join("systemctl");
        std::fs::write(&script, SCRIPT).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("calls.log"), "").unwrap();
        Standin {
            dir: dir.to_path_buf(),
        }
    }

    /// The environment that makes the agent use this stand-in.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "AOPS_AGENT_SYSTEMCTL".into(),
                self.dir.join("systemctl").display().to_string(),
            ),
            ("STANDIN_DIR".into(), self.dir.display().to_string()),
        ]
    }

    /// Installs `unit` with the given properties (replacing any earlier state).
    pub fn install(&self, unit: &str, props: &[(&str, &str)]) {
        let d = self.dir.join("units").join(unit);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("LoadState"), "loaded\n").unwrap();
        for (k, v) in props {
            std::fs::write(d.join(k), format!("{v}\n")).unwrap();
        }
    }

    pub fn prop(&self, unit: &str, prop: &str) -> String {
        std::fs::read_to_string(self.dir.join("units").join(unit).join(prop))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Makes every later `systemctl VERB` fail with `reason` on stderr.
    pub fn fail(&self, verb: &str, reason: &str) {
        std::fs::write(self.dir.join(format!("fail-{verb}")), reason).unwrap();
    }

    /// Makes every later call hang without an answer.
    pub fn hang(&self) {
        std::fs::write(self.dir.join("hang"), "").unwrap();
    }

    /// Every invocation so far, one line each (the arguments).
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls.log"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn clear_calls(&self) {
        std::fs::write(self.dir.join("calls.log"), "").unwrap();
    }
}
