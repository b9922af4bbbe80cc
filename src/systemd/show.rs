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
