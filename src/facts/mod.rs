//! Host facts read natively from /proc, /sys and the SMBIOS tables, under a root directory.
//! No fact ever spawns a process; a fact that cannot be read is reported empty, not as an error.

pub mod arm;
pub mod cpu;
pub mod disk;
pub mod human;
pub mod listening;
pub mod memo;
pub mod memory;
pub mod os;
pub mod root;
pub mod smbios;

use std::path::Path;

use serde_json::{Map, Value};

use root::Root;

/// The fact types, in the order they are reported when all are asked for.
pub const TYPES: &[&str] = &["cpu", "disk", "memory", "os"];

/// One key per requested type (all four when `types` is empty); unknown names are skipped, the
/// caller validates them.
pub fn report(sysroot: &Path, types: &[&str]) -> Map<String, Value> {
    let root = Root::new(sysroot);
    let wanted = |t: &str| types.is_empty() || types.contains(&t);
    // memory and os share one read of the SMBIOS tables.
    let table = if wanted("memory") || wanted("os") {
        smbios::load(&root)
    } else {
        None
    };
    let mut out = Map::new();
    for &t in TYPES.iter().filter(|t| wanted(t)) {
        let value = match t {
            "cpu" => cpu::read(&root).to_json(),
            "disk" => disk::to_json(&root),
            "memory" => memory::to_json(&root, table.as_ref()),
            _ => os::to_json(&root, table.as_ref()),
        };
        out.insert(t.to_string(), value);
    }
    out
}

/// The SMBIOS system UUID as dmidecode prints it (lowercase), with the dashes removed;
/// `None` where the machine has no SMBIOS tables or no UUID in them.
pub fn system_uuid(sysroot: &Path) -> Option<String> {
    let table = smbios::load(&Root::new(sysroot))?;
    smbios::system_uuid(&table).map(|u| u.replace('-', ""))
}
