//! The `cpu` fact: what `lscpu` prints for Architecture, CPU(s), Vendor ID, Model name and the
//! cache lines, read from /proc/cpuinfo and /sys/devices/system/cpu.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::arm;
use super::human::{self, Style};
use super::memo::Memo;
use super::root::Root;

const CPU_DIR: &str = "/sys/devices/system/cpu";

#[derive(Debug, Default, PartialEq)]
pub struct Cpu {
    pub architecture: Option<String>,
    pub core_count: Option<String>,
    pub vendor_id: Option<String>,
    pub model_name: Option<String>,
    pub l1d_cache: Option<String>,
    pub l1i_cache: Option<String>,
    pub l2_cache: Option<String>,
    pub l3_cache: Option<String>,
}

impl Cpu {
    pub fn to_json(&self) -> Value {
        json!({
            "architecture": self.architecture,
            "core_count": self.core_count,
            "vendor_id": self.vendor_id,
            "model_name": self.model_name,
            "l1d_cache": self.l1d_cache,
            "l1i_cache": self.l1i_cache,
            "l2_cache": self.l2_cache,
            "l3_cache": self.l3_cache,
        })
    }
}

/// What only CPU hotplug can change: read once, then again only when the online or present
/// list moves. /proc/cpuinfo alone costs tens of microseconds per read on x86, where the kernel
/// asks every CPU for its current frequency.
#[derive(Clone)]
struct Stable {
    architecture: Option<String>,
    vendor_id: Option<String>,
    model_name: Option<String>,
    caches: BTreeMap<String, String>,
}

pub fn read(root: &Root) -> Cpu {
    static STABLE: Memo<Stable> = Memo::new();
    let present = root.attr(&format!("{CPU_DIR}/present"));
    let fingerprint = root
        .read_optional(&format!("{CPU_DIR}/online"))
        .map(|online| format!("{online}|{}", present.as_deref().unwrap_or("")));
    let stable = STABLE.get(root.base(), fingerprint, || {
        let cpuinfo = root.read_first_block("/proc/cpuinfo").unwrap_or_default();
        let (vendor_id, model_name) = identity(&first_processor(&cpuinfo));
        Stable {
            architecture: architecture(root),
            vendor_id,
            model_name,
            caches: caches(root),
        }
    });
    let cache = |name: &str| stable.caches.get(name).cloned();
    Cpu {
        architecture: stable.architecture.clone(),
        core_count: present
            .as_deref()
            .and_then(cpulist_count)
            .or_else(|| count_processors(&root.read("/proc/cpuinfo")?))
            .map(|n| n.to_string()),
        vendor_id: stable.vendor_id.clone(),
        model_name: stable.model_name.clone(),
        l1d_cache: cache("L1d"),
        l1i_cache: cache("L1i"),
        l2_cache: cache("L2"),
        l3_cache: cache("L3"),
    }
}

/// lscpu prints the machine field of uname(2); the kernel also publishes it as a sysctl, which
/// a recorded tree can carry.
fn architecture(root: &Root) -> Option<String> {
    if let Some(arch) = root.read_optional("/proc/sys/kernel/arch") {
        let arch = arch.trim();
        if !arch.is_empty() {
            return Some(arch.to_string());
        }
    }
    if root.is_live() {
        return super::root::uname().map(|u| u.machine);
    }
    crate::debug!("host facts: no /proc/sys/kernel/arch under the facts root");
    None
}

/// Counts a kernel cpulist such as `0-3,8,10-11`; lscpu's `CPU(s)` is the count of the
/// present list.
pub fn cpulist_count(list: &str) -> Option<usize> {
    let list = list.trim();
    if list.is_empty() {
        return Some(0);
    }
    let mut n = 0;
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                n = b.checked_sub(a)?.checked_add(n)?.checked_add(1)?;
            }
            None => {
                part.trim().parse::<usize>().ok()?;
                n += 1;
            }
        }
    }
    Some(n)
}

fn count_processors(cpuinfo: &str) -> Option<usize> {
    let n = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().map(str::trim) == Some("processor"))
        .count();
    (n > 0).then_some(n)
}

/// `key: value` pairs of the first processor block (later blocks repeat them; lscpu reads
/// the first).
fn first_processor(cpuinfo: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for line in cpuinfo.lines().skip_while(|l| l.is_empty()) {
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            fields
                .entry(k.trim().to_string())
                .or_insert_with(|| v.trim().to_string());
        }
    }
    fields
}

fn identity(fields: &BTreeMap<String, String>) -> (Option<String>, Option<String>) {
    let model_name = fields.get("model name").filter(|s| !s.is_empty()).cloned();
    if let Some(vendor) = fields.get("vendor_id").filter(|s| !s.is_empty()) {
        return (Some(vendor.clone()), model_name);
    }
    if let Some(implementer) = fields.get("CPU implementer") {
        let (vendor, model) = arm::names(implementer, fields.get("CPU part").map(String::as_str));
        return (
            Some(vendor.map_or_else(|| implementer.clone(), str::to_string)),
            model.map(str::to_string).or(model_name),
        );
    }
    (None, model_name)
}

/// One cache as lscpu identifies it: type, level and id (or, without an id, which CPUs share it).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Instance {
    kind: String,
    level: u32,
    id: String,
}

/// `"L1d" → "96 KiB (2 instances)"`: total size over distinct instances, as lscpu sums it.
fn caches(root: &Root) -> BTreeMap<String, String> {
    let mut seen: BTreeMap<Instance, (String, u64)> = BTreeMap::new();
    let mut cpus: Vec<u32> = root
        .list(CPU_DIR)
        .iter()
        .filter_map(|n| n.strip_prefix("cpu")?.parse().ok())
        .collect();
    cpus.sort_unstable();
    for cpu in cpus {
        for index in 0.. {
            let dir = format!("{CPU_DIR}/cpu{cpu}/cache/index{index}");
            // Reading first and asking why only on failure saves a stat per cache.
            let Some(level) = root.read_optional(&format!("{dir}/level")) else {
                if root.exists(&dir) {
                    continue;
                }
                break;
            };
            let level = level.trim().parse().ok();
            let kind = root.attr(&format!("{dir}/type"));
            let (Some(level), Some(kind)) = (level, kind) else {
                continue;
            };
            let id = match root.read_optional(&format!("{dir}/id")) {
                Some(id) => format!("id {}", id.trim()),
                None => format!(
                    "shared {}",
                    root.attr(&format!("{dir}/shared_cpu_map"))
                        .unwrap_or_default()
                ),
            };
            let key = Instance {
                kind: kind.clone(),
                level,
                id,
            };
            if seen.contains_key(&key) {
                continue;
            }
            let size = root
                .attr(&format!("{dir}/size"))
                .and_then(|s| parse_size(&s))
                .unwrap_or(0);
            let name = match kind.as_str() {
                "Data" => format!("L{level}d"),
                "Instruction" => format!("L{level}i"),
                _ => format!("L{level}"),
            };
            seen.insert(key, (name, size));
        }
    }
    let mut totals: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for (name, size) in seen.into_values() {
        let t = totals.entry(name).or_default();
        t.0 += size;
        t.1 += 1;
    }
    totals
        .into_iter()
        .filter(|(_, (size, _))| *size > 0)
        .map(|(name, (size, n))| {
            let plural = if n == 1 { "instance" } else { "instances" };
            (
                name,
                format!("{} ({n} {plural})", human::size(size, Style::SpacedIec)),
            )
        })
        .collect()
}

/// sysfs cache sizes: `32K`, `32768K`, `1M`.
fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = s[..digits].parse().ok()?;
    let shift = match s[digits..].trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        _ => return None,
    };
    n.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulists() {
        assert_eq!(cpulist_count("0-127"), Some(128));
        assert_eq!(cpulist_count("0,2-3,8\n"), Some(4));
        assert_eq!(cpulist_count("0"), Some(1));
        assert_eq!(cpulist_count("3-1"), None);
        assert_eq!(cpulist_count("a"), None);
        assert_eq!(cpulist_count("0-18446744073709551615"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("32K\n"), Some(32 << 10));
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("12Q"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn identities() {
        let f = |text: &str| identity(&first_processor(text));
        assert_eq!(
            f("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)\n"),
            (Some("GenuineIntel".into()), Some("Intel(R) Xeon(R)".into()))
        );
        assert_eq!(
            f("processor\t: 0\nCPU implementer\t: 0x48\nCPU part\t: 0xd01\n"),
            (Some("HiSilicon".into()), Some("Kunpeng-920".into()))
        );
        assert_eq!(
            f("processor\t: 0\nCPU implementer\t: 0x99\nCPU part\t: 0x001\n"),
            (Some("0x99".into()), None)
        );
        assert_eq!(f(""), (None, None));
    }
}
