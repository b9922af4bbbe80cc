//! The `memory` fact: online memory as `lsmem` totals it, and the installed DIMMs from SMBIOS.

use serde_json::{json, Value};

use super::human::{self, Style};
use super::memo::Memo;
use super::root::Root;
use super::smbios::{self, Table};

const MEMORY_DIR: &str = "/sys/devices/system/memory";

/// `Total online memory` as lsmem prints it; MemTotal where the kernel has no memory blocks
/// directory (no memory hotplug support).
pub fn size(root: &Root) -> Option<String> {
    online_bytes(root)
        .or_else(|| mem_total(root))
        .map(|b| human::size(b, Style::Letter))
}

fn online_bytes(root: &Root) -> Option<u64> {
    if !root.exists(MEMORY_DIR) {
        return None;
    }
    // The kernel adds a block's pages to MemTotal when it goes online and takes them away when
    // it goes offline: while MemTotal stands still, so does the number of online blocks.
    static ONLINE: Memo<Option<u64>> = Memo::new();
    let witness = match root.is_live() {
        true => super::root::total_ram().map(|b| b.to_string()),
        false => root.read_optional("/proc/meminfo").and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .map(str::to_string)
        }),
    };
    ONLINE.get(root.base(), witness, || count_online(root))
}

fn count_online(root: &Root) -> Option<u64> {
    let block = root.attr(&format!("{MEMORY_DIR}/block_size_bytes"))?;
    let Ok(block) = u64::from_str_radix(block.trim_start_matches("0x"), 16) else {
        crate::debug!("host facts: {MEMORY_DIR}/block_size_bytes is not hex: {block:?}");
        return None;
    };
    let online = root
        .list(MEMORY_DIR)
        .iter()
        .filter(|n| {
            n.strip_prefix("memory")
                .is_some_and(|i| i.bytes().all(|b| b.is_ascii_digit()) && !i.is_empty())
        })
        .filter(|n| root.attr(&format!("{MEMORY_DIR}/{n}/state")).as_deref() == Some("online"))
        .count() as u64;
    online.checked_mul(block).filter(|&b| b > 0)
}

fn mem_total(root: &Root) -> Option<u64> {
    let meminfo = root.read("/proc/meminfo")?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

pub fn to_json(root: &Root, table: Option<&Table>) -> Value {
    let dimms: Vec<Value> = table
        .map(smbios::memory_devices)
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            json!({
                "size": d.size,
                "type": d.kind,
                "speed": d.speed,
                "manufacturer": d.manufacturer,
            })
        })
        .collect();
    json!({
        "size": size(root),
        "total": dimms.len(),
        "info": dimms,
    })
}
