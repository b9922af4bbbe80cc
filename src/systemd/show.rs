//! The output of `systemctl show -p A,B UNIT1 UNIT2 ...`: `KEY=value` lines, one block per unit
//! in the order the units were given, blocks separated by an empty line.

use std::collections::HashMap;

/// The properties systemd reported for one unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnitProps(pub HashMap<String, String>);

impl UnitProps {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// `LoadState=not-found`: no unit file of that name, i.e. the software is not installed.
    pub fn not_found(&self) -> bool {
        self.get("LoadState") == Some("not-found")
    }

    pub fn active_state(&self) -> Option<&str> {
        self.get("ActiveState")
    }
}

/// Splits the output into one block per unit. Values keep everything after the first `=`
/// (a value may itself hold `=`); lines without `=` are not properties and are skipped.
pub fn parse(text: &str) -> Vec<UnitProps> {
    let mut blocks = Vec::new();
    let mut current = UnitProps::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.0.is_empty() {
                blocks.push(std::mem::take(&mut current));
            }
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            current.0.insert(k.to_string(), v.to_string());
        }
    }
    if !current.0.is_empty() {
        blocks.push(current);
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real output of systemd 252; see tests/fixtures/systemd/README.md.
    const CAPTURED: &str = include_str!("../../tests/fixtures/systemd/show-hybrid.txt");

    #[test]
    fn captured_output_gives_one_block_per_unit_in_order() {
        let blocks = parse(CAPTURED);
        let ids: Vec<_> = blocks.iter().map(|b| b.get("Id").unwrap()).collect();
        assert_eq!(
            ids,
            [
                "gala-gopher.service",
                "ssh.service",
                "cron.service",
                "nosuch.service"
            ]
        );
        let g = &blocks[0];
        assert_eq!(g.get("LoadState"), Some("loaded"));
        assert_eq!(g.active_state(), Some("active"));
        assert_eq!(
            g.get("ControlGroup"),
            Some("/system.slice/gala-gopher.service")
        );
        assert_eq!(g.get("MemoryCurrent"), Some("[not set]"));
        assert_eq!(g.get("CPUQuotaPerSecUSec"), Some("200ms"));
        assert_eq!(g.get("MemoryHigh"), Some("41943040"));
        assert_eq!(g.get("ActiveEnterTimestampMonotonic"), Some("671872901"));
        assert!(!g.not_found());
        assert_eq!(blocks[1].get("MemoryHigh"), Some("infinity"));
        let missing = &blocks[3];
        assert!(missing.not_found());
        assert_eq!(missing.active_state(), Some("inactive"));
        assert_eq!(missing.get("ControlGroup"), Some(""));
    }

    #[test]
    fn captured_limits_read_as_the_unit_file_wrote_them() {
        let blocks = parse(CAPTURED);
        let g = &blocks[0];
        use crate::systemd::value;
        assert_eq!(
            value::cpu_quota(g.get("CPUQuotaPerSecUSec")).as_deref(),
            Some("20%")
        );
        assert_eq!(
            value::memory_size(g.get("MemoryHigh")).as_deref(),
            Some("40M")
        );
        assert_eq!(value::number(g.get("CPUUsageNSec")), None);
        assert_eq!(value::cpu_quota(blocks[1].get("CPUQuotaPerSecUSec")), None);
    }

    #[test]
    fn values_keep_equals_signs_and_odd_lines_are_skipped() {
        let blocks = parse("Environment=A=1 B=2\nnot a property\n\n\nId=x.service\n");
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].get("Environment"), Some("A=1 B=2"));
        assert_eq!(blocks[1].get("Id"), Some("x.service"));
        assert!(parse("").is_empty());
    }
}
