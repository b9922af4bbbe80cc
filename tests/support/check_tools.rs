//! Stand-ins for `journalctl` and `firewall-cmd` (bash scripts), as `aops_agent check` calls
//! them. journalctl prints stored entries in `short-iso` form, filtered by unit and priority
//! and cut to `--lines`, as the real one does with `--quiet`; firewall-cmd answers
//! `--get-active-zones`, `--get-default-zone` and `--zone=Z --list-all` in firewalld's format
//! from zone directories. Both log their calls and can be made to hang.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const JOURNALCTL: &str = r#"#!/bin/bash
# Stand-in for journalctl. Entries: $TOOLS_DIR/journal/<unit>, lines "<priority 0-7> <short-iso line>".
dir="$TOOLS_DIR"
echo "journalctl $*" >> "$dir/calls.log"
[ -f "$dir/hang-journalctl" ] && exec sleep 600
unit="" prio=7 lines=10
while [ $# -gt 0 ]; do
    case "$1" in
        --unit) unit="$2"; shift 2 ;;
        --unit=*) unit="${1#--unit=}"; shift ;;
        --priority) prio="$2"; shift 2 ;;
        --lines) lines="$2"; shift 2 ;;
        *) shift ;;
    esac
done
case "$prio" in
    emerg) prio=0 ;; alert) prio=1 ;; crit) prio=2 ;; err) prio=3 ;;
    warning) prio=4 ;; notice) prio=5 ;; info) prio=6 ;; debug) prio=7 ;;
esac
f="$dir/journal/$unit"
[ -f "$f" ] || exit 0
while read -r p rest; do
    [ "$p" -le "$prio" ] && printf '%s\n' "$rest"
done < "$f" | tail -n "$lines"
"#;

const FIREWALL_CMD: &str = r#"#!/bin/bash
# Stand-in for firewall-cmd. Zones: $TOOLS_DIR/zones/<zone>/{interfaces,services,ports}.
dir="$TOOLS_DIR"
echo "firewall-cmd $*" >> "$dir/calls.log"
[ -f "$dir/hang-firewall-cmd" ] && exec sleep 600
if [ -f "$dir/firewalld-stopped" ]; then echo "FirewallD is not running"; exit 252; fi
val() { [ -f "$dir/zones/$1/$2" ] && tr '\n' ' ' < "$dir/zones/$1/$2" | sed 's/ *$//'; }
zone=""
for a in "$@"; do
    case "$a" in --zone=*) zone="${a#--zone=}" ;; esac
done
for a in "$@"; do
    case "$a" in
    --state) echo running; exit 0 ;;
    --get-default-zone) cat "$dir/default-zone"; exit 0 ;;
    --get-active-zones)
        for z in $(ls "$dir/zones"); do
            i=$(val "$z" interfaces)
            [ -n "$i" ] || continue
            echo "$z"
            echo "  interfaces: $i"
        done
        exit 0 ;;
    --list-all)
        [ -n "$zone" ] || zone=$(cat "$dir/default-zone")
        if [ ! -d "$dir/zones/$zone" ]; then echo "Error: INVALID_ZONE: $zone"; exit 112; fi
        i=$(val "$zone" interfaces)
        if [ -n "$i" ]; then echo "$zone (active)"; else echo "$zone"; fi
        echo "  target: default"
        echo "  icmp-block-inversion: no"
        echo "  interfaces: $i"
        echo "  sources: "
        echo "  services: $(val "$zone" services)"
        echo "  ports: $(val "$zone" ports)"
        echo "  protocols: "
        echo "  forward: yes"
        echo "  masquerade: no"
        echo "  forward-ports: "
        echo "  source-ports: "
        echo "  icmp-blocks: "
        echo "  rich rules: "
        exit 0 ;;
    esac
done
echo "usage: see firewall-cmd -h" >&2
exit 2
"#;

pub struct Tools {
    pub dir: PathBuf,
}

impl Tools {
    pub fn new(dir: &Path) -> Tools {
        std::fs::create_dir_all(dir.join("journal")).unwrap();
        std::fs::create_dir_all(dir.join("zones")).unwrap();
        for (name, text) in [("journalctl", JOURNALCTL), ("firewall-cmd", FIREWALL_CMD)] {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join("calls.log"), "").unwrap();
        std::fs::write(dir.join("default-zone"), "public\n").unwrap();
        Tools {
            dir: dir.to_path_buf(),
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "AOPS_AGENT_JOURNALCTL".into(),
                self.dir.join("journalctl").display().to_string(),
            ),
            (
                "AOPS_AGENT_FIREWALL_CMD".into(),
                self.dir.join("firewall-cmd").display().to_string(),
            ),
            ("TOOLS_DIR".into(), self.dir.display().to_string()),
        ]
    }

    /// Adds a journal entry of `unit` at `priority` (3 = err).
    pub fn journal(&self, unit: &str, priority: u8, line: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("journal").join(unit))
            .unwrap();
        writeln!(f, "{priority} {line}").unwrap();
    }

    /// Defines a zone; `interfaces` non-empty makes it active.
    pub fn zone(&self, name: &str, interfaces: &str, services: &str, ports: &str) {
        let d = self.dir.join("zones").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("interfaces"), interfaces).unwrap();
        std::fs::write(d.join("services"), services).unwrap();
        std::fs::write(d.join("ports"), ports).unwrap();
    }

    /// Makes `program` (journalctl or firewall-cmd) hang without an answer.
    pub fn hang(&self, program: &str) {
        std::fs::write(self.dir.join(format!("hang-{program}")), "").unwrap();
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("calls.log"))
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}
