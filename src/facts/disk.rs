//! The `disk` fact: physical block devices with their model and decimal capacity.

use serde_json::{json, Value};

use super::root::Root;

const BLOCK_DIR: &str = "/sys/block";

/// Virtual and logical devices that are not disks.
const NOT_DISKS: &[&str] = &["loop", "ram", "dm-", "md", "zram", "sr"];

pub fn to_json(root: &Root) -> Value {
    let disks: Vec<Value> = root
        .list(BLOCK_DIR)
        .into_iter()
        .filter(|name| !NOT_DISKS.iter().any(|p| name.starts_with(p)))
        .filter(|name| !root.exists(&format!("{BLOCK_DIR}/{name}/partition")))
        .map(|name| {
            let dir = format!("{BLOCK_DIR}/{name}");
            let model = root
                .read_optional(&format!("{dir}/device/model"))
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty());
            let capacity = root
                .attr(&format!("{dir}/size"))
                .and_then(|s| s.parse::<u64>().ok())
                .map(capacity);
            json!({"model": model, "capacity": capacity})
        })
        .collect();
    Value::Array(disks)
}

/// 512-byte sectors → whole decimal gigabytes, rounded down.
pub fn capacity(sectors: u64) -> String {
    format!("{}GB", u128::from(sectors) * 512 / 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacities() {
        assert_eq!(capacity(1_875_385_008), "960GB");
        assert_eq!(capacity(1_953_124), "0GB");
        assert_eq!(capacity(1_953_125), "1GB");
        assert_eq!(capacity(1_953_126 * 2), "2GB");
        assert_eq!(capacity(u64::MAX), "9444732965739GB");
    }
}
