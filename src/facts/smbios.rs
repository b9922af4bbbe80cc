//! SMBIOS tables as Linux exports them (`/sys/firmware/dmi/tables`), decoded the way
//! `dmidecode` 3.4 prints the few fields we report.

use std::fmt;

use super::memo::Memo;
use super::root::Root;

const ENTRY_POINT: &str = "/sys/firmware/dmi/tables/smbios_entry_point";
const TABLE: &str = "/sys/firmware/dmi/tables/DMI";

#[derive(Debug, PartialEq, Eq)]
pub enum SmbiosError {
    /// The entry point has neither the `_SM_` nor the `_SM3_` anchor.
    UnknownAnchor,
    /// The entry point is shorter than its format requires.
    Truncated { len: usize, needed: usize },
}

impl fmt::Display for SmbiosError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmbiosError::UnknownAnchor => write!(f, "no _SM_ or _SM3_ anchor"),
            SmbiosError::Truncated { len, needed } => {
                write!(f, "entry point is {len} bytes, needs {needed}")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryPoint {
    /// `major << 8 | minor`, with the fix-ups dmidecode applies to known-bad 2.x versions.
    pub version: u16,
    /// How many structures a 2.x table holds; 3.x tables end with type 127 instead.
    pub count: Option<usize>,
}

impl EntryPoint {
    pub fn parse(ep: &[u8]) -> Result<EntryPoint, SmbiosError> {
        let need = |needed: usize| {
            if ep.len() < needed {
                Err(SmbiosError::Truncated {
                    len: ep.len(),
                    needed,
                })
            } else {
                Ok(())
            }
        };
        if ep.starts_with(b"_SM3_") {
            need(0x18)?;
            return Ok(EntryPoint {
                version: u16::from(ep[0x07]) << 8 | u16::from(ep[0x08]),
                count: None,
            });
        }
        if ep.starts_with(b"_SM_") {
            need(0x1F)?;
            let version = match u16::from(ep[0x06]) << 8 | u16::from(ep[0x07]) {
                0x021F | 0x0221 => 0x0203,
                0x0233 => 0x0206,
                v => v,
            };
            let count = usize::from(u16::from_le_bytes([ep[0x1C], ep[0x1D]]));
            return Ok(EntryPoint {
                version,
                count: Some(count),
            });
        }
        Err(SmbiosError::UnknownAnchor)
    }
}

#[derive(Clone)]
pub struct Table {
    pub entry: EntryPoint,
    data: Vec<u8>,
}

/// The tables under `root`, or `None` (with a DEBUG line) where the machine exports none.
pub fn load(root: &Root) -> Option<Table> {
    let ep = match root.read_bytes(ENTRY_POINT) {
        Ok(ep) => ep,
        Err(e) => {
            crate::debug!("host facts: no SMBIOS entry point ({ENTRY_POINT}: {e})");
            return None;
        }
    };
    let entry = match EntryPoint::parse(&ep) {
        Ok(entry) => entry,
        Err(e) => {
            crate::debug!("host facts: ignoring SMBIOS tables: {ENTRY_POINT}: {e}");
            return None;
        }
    };
    // Firmware tables do not change while the system runs; the entry point, which locates and
    // sizes them, stands for the whole table.
    static TABLES: Memo<Option<Table>> = Memo::new();
    let fingerprint = ep.iter().map(|b| format!("{b:02x}")).collect();
    TABLES.get(root.base(), Some(fingerprint), || {
        match root.read_bytes(TABLE) {
            Ok(data) => Some(Table { entry, data }),
            Err(e) => {
                crate::debug!("host facts: no SMBIOS table ({TABLE}: {e})");
                None
            }
        }
    })
}

/// One structure: its formatted area and the string set after it.
pub struct Structure<'a> {
    pub kind: u8,
    formatted: &'a [u8],
    strings: &'a [u8],
}

impl Table {
    pub fn new(entry: EntryPoint, data: Vec<u8>) -> Table {
        Table { entry, data }
    }

    /// The structures in table order, stopping where dmidecode stops: at the announced count
    /// (2.x), at end-of-table (3.x), or at the first malformed structure.
    pub fn structures(&self) -> Vec<Structure<'_>> {
        let d = &self.data;
        let mut out = Vec::new();
        let mut off = 0;
        while off + 4 <= d.len() && self.entry.count.map_or(true, |n| out.len() < n) {
            let kind = d[off];
            let len = usize::from(d[off + 1]);
            if len < 4 || off + len > d.len() {
                break;
            }
            // The string set ends with a double NUL.
            let mut next = off + len;
            while next + 1 < d.len() && (d[next] != 0 || d[next + 1] != 0) {
                next += 1;
            }
            next += 2;
            if next > d.len() {
                break;
            }
            out.push(Structure {
                kind,
                formatted: &d[off..off + len],
                strings: &d[off + len..next],
            });
            // 3.x tables have only a maximum size, so end-of-table is where they end; 2.x
            // tables announce their count, which dmidecode follows even past type 127.
            if kind == 127 && self.entry.count.is_none() {
                break;
            }
            off = next;
        }
        out
    }
}

impl Structure<'_> {
    pub fn len(&self) -> usize {
        self.formatted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.formatted.is_empty()
    }

    pub fn byte(&self, off: usize) -> Option<u8> {
        self.formatted.get(off).copied()
    }

    pub fn word(&self, off: usize) -> Option<u16> {
        let b = self.formatted.get(off..off + 2)?;
        Some(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn dword(&self, off: usize) -> Option<u32> {
        let b = self.formatted.get(off..off + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn bytes(&self, off: usize, n: usize) -> Option<&[u8]> {
        self.formatted.get(off..off + n)
    }

    /// The string a formatted-area byte points at, as dmidecode shows it: index 0 is
    /// `Not Specified`, a missing one `<BAD INDEX>`, unprintable bytes become `.`.
    pub fn string_at(&self, off: usize) -> Option<String> {
        let index = self.byte(off)?;
        if index == 0 {
            return Some("Not Specified".into());
        }
        let s = self
            .strings
            .split(|&b| b == 0)
            .take_while(|s| !s.is_empty())
            .nth(usize::from(index) - 1);
        Some(match s {
            None => "<BAD INDEX>".into(),
            Some(s) => s
                .iter()
                .map(|&b| {
                    if (32..127).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect(),
        })
    }
}

/// Type 0 `Version` (padding blanks trimmed), where the table has a BIOS structure long enough
/// for dmidecode to show it.
pub fn bios_version(table: &Table) -> Option<String> {
    table
        .structures()
        .iter()
        .find(|s| s.kind == 0 && s.len() >= 0x12)
        .and_then(|s| s.string_at(0x05))
        .map(|v| v.trim().to_string())
}

/// Type 1 `UUID` as dmidecode prints it (lowercase, dashed); `None` when absent or when
/// dmidecode would say `Not Present` (all 0xFF) or `Not Settable` (all 0x00).
pub fn system_uuid(table: &Table) -> Option<String> {
    let structures = table.structures();
    let system = structures.iter().find(|s| s.kind == 1 && s.len() >= 0x19)?;
    let p = system.bytes(0x08, 16)?;
    if p.iter().all(|&b| b == 0) || p.iter().all(|&b| b == 0xFF) {
        return None;
    }
    // Since SMBIOS 2.6 the first three fields are little-endian; dmidecode trusts older
    // tables to be in network order.
    let order: [usize; 16] = if table.entry.version >= 0x0206 {
        [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15]
    } else {
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    };
    let mut out = String::with_capacity(36);
    for (i, &at) in order.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{:02x}", p[at]));
    }
    Some(out)
}

/// One installed memory device (type 17), in dmidecode's words (padding blanks trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryDevice {
    pub size: String,
    pub kind: String,
    pub speed: String,
    pub manufacturer: String,
}

/// Type 17 structures with a module installed, in table order.
pub fn memory_devices(table: &Table) -> Vec<MemoryDevice> {
    table
        .structures()
        .iter()
        .filter(|s| s.kind == 17 && s.len() >= 0x15)
        .filter_map(memory_device)
        .collect()
}

fn memory_device(s: &Structure<'_>) -> Option<MemoryDevice> {
    let size = s.word(0x0C)?;
    if size == 0 {
        return None;
    }
    let size = match s.dword(0x1C) {
        Some(extended) if size == 0x7FFF && s.len() >= 0x20 => extended_size(extended),
        _ => device_size(size),
    };
    let kind = memory_type(s.byte(0x12)?).to_string();
    // Fields dmidecode shows only when the structure is long enough to hold them.
    let speed = if s.len() >= 0x17 {
        let extended = if s.len() >= 0x5C { s.dword(0x54) } else { None };
        speed(s.word(0x15)?, extended.unwrap_or(0))
    } else {
        String::new()
    };
    let manufacturer = if s.len() >= 0x1B {
        s.string_at(0x17)?.trim().to_string()
    } else {
        String::new()
    };
    Some(MemoryDevice {
        size,
        kind,
        speed,
        manufacturer,
    })
}

fn device_size(code: u16) -> String {
    if code == 0xFFFF {
        return "Unknown".into();
    }
    let mut kib = u64::from(code & 0x7FFF);
    if code & 0x8000 == 0 {
        kib <<= 10;
    }
    memory_size(kib, 1)
}

/// dmidecode's `dmi_print_memory_size`: the largest power-of-1024 unit, or the next one down
/// when that keeps the figure exact.
fn memory_size(value: u64, shift: usize) -> String {
    const UNITS: [&str; 8] = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB", "ZB"];
    let split: Vec<u64> = (0..7).map(|i| (value >> (10 * i)) & 0x3FF).collect();
    let mut i = 6;
    while i > 0 && split[i] == 0 {
        i -= 1;
    }
    let capacity = if i > 0 && split[i - 1] != 0 {
        i -= 1;
        split[i] + (split[i + 1] << 10)
    } else {
        split[i]
    };
    format!("{capacity} {}", UNITS[i + shift])
}

fn extended_size(code: u32) -> String {
    let mb = code & 0x7FFF_FFFF;
    if mb & 0x3FF != 0 {
        format!("{mb} MB")
    } else if mb & 0xF_FC00 != 0 {
        format!("{} GB", mb >> 10)
    } else {
        format!("{} TB", mb >> 20)
    }
}

fn speed(code: u16, extended: u32) -> String {
    match (code, extended) {
        (0xFFFF, 0) | (0, _) => "Unknown".into(),
        (0xFFFF, mts) => format!("{mts} MT/s"),
        (mts, _) => format!("{mts} MT/s"),
    }
}

fn memory_type(code: u8) -> &'static str {
    const TYPES: [&str; 0x23] = [
        "Other",
        "Unknown",
        "DRAM",
        "EDRAM",
        "VRAM",
        "SRAM",
        "RAM",
        "ROM",
        "Flash",
        "EEPROM",
        "FEPROM",
        "EPROM",
        "CDRAM",
        "3DRAM",
        "SDRAM",
        "SGRAM",
        "RDRAM",
        "DDR",
        "DDR2",
        "DDR2 FB-DIMM",
        "Reserved",
        "Reserved",
        "Reserved",
        "DDR3",
        "FBD2",
        "DDR4",
        "LPDDR",
        "LPDDR2",
        "LPDDR3",
        "LPDDR4",
        "Logical non-volatile device",
        "HBM",
        "HBM2",
        "DDR5",
        "LPDDR5",
    ];
    match code {
        1..=0x23 => TYPES[usize::from(code) - 1],
        _ => "<OUT OF SPEC>",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_dmidecode_prints_them() {
        assert_eq!(device_size(16384), "16 GB");
        assert_eq!(device_size(1536), "1536 MB");
        assert_eq!(device_size(512), "512 MB");
        assert_eq!(device_size(0x8000 | 512), "512 kB");
        assert_eq!(device_size(0xFFFF), "Unknown");
        assert_eq!(extended_size(65536), "64 GB");
        assert_eq!(extended_size(1 << 20), "1 TB");
        assert_eq!(extended_size(33000), "33000 MB");
        assert_eq!(extended_size(0x8000_0000 | 131072), "128 GB");
    }

    #[test]
    fn speeds_and_types() {
        assert_eq!(speed(2933, 0), "2933 MT/s");
        assert_eq!(speed(0, 0), "Unknown");
        assert_eq!(speed(0xFFFF, 0), "Unknown");
        assert_eq!(speed(0xFFFF, 70000), "70000 MT/s");
        assert_eq!(memory_type(0x1A), "DDR4");
        assert_eq!(memory_type(0x22), "DDR5");
        assert_eq!(memory_type(0), "<OUT OF SPEC>");
        assert_eq!(memory_type(0x40), "<OUT OF SPEC>");
    }

    #[test]
    fn entry_points() {
        let mut v2 = vec![0u8; 0x1F];
        v2[..4].copy_from_slice(b"_SM_");
        v2[6] = 2;
        v2[7] = 0x33;
        v2[0x1C] = 7;
        assert_eq!(
            EntryPoint::parse(&v2),
            Ok(EntryPoint {
                version: 0x0206,
                count: Some(7)
            })
        );
        let mut v3 = vec![0u8; 0x18];
        v3[..5].copy_from_slice(b"_SM3_");
        v3[7] = 3;
        v3[8] = 4;
        assert_eq!(
            EntryPoint::parse(&v3),
            Ok(EntryPoint {
                version: 0x0304,
                count: None
            })
        );
        assert_eq!(
            EntryPoint::parse(&v3[..10]),
            Err(SmbiosError::Truncated {
                len: 10,
                needed: 0x18
            })
        );
        assert_eq!(EntryPoint::parse(b"junk"), Err(SmbiosError::UnknownAnchor));
    }

    fn table(data: &[u8]) -> Table {
        Table::new(
            EntryPoint {
                version: 0x0300,
                count: None,
            },
            data.to_vec(),
        )
    }

    #[test]
    fn walks_structures_and_strings() {
        // BIOS (strings "Acme", "1.82"), then a structure with no strings, then end-of-table.
        let mut d = vec![0u8, 0x12, 0, 0, 1, 2];
        d.resize(0x12, 0);
        d.extend_from_slice(b"Acme\x001.82\0\0");
        d.extend_from_slice(&[0xDD, 4, 1, 0, 0, 0]);
        d.extend_from_slice(&[127, 4, 2, 0, 0, 0]);
        d.extend_from_slice(&[17, 4, 3, 0, 0, 0]);
        let t = table(&d);
        let s = t.structures();
        assert_eq!(s.iter().map(|s| s.kind).collect::<Vec<_>>(), [0, 0xDD, 127]);
        assert_eq!(s[0].string_at(4).as_deref(), Some("Acme"));
        assert_eq!(bios_version(&t).as_deref(), Some("1.82"));
        assert_eq!(s[0].string_at(6).as_deref(), Some("Not Specified"));
        assert_eq!(s[0].string_at(7).as_deref(), Some("Not Specified"));
        assert_eq!(s[0].string_at(0x40), None);
        assert!(memory_devices(&t).is_empty());
    }

    #[test]
    fn malformed_tables_stop_cleanly() {
        assert!(table(&[]).structures().is_empty());
        assert!(table(&[1, 2, 0, 0, 0, 0]).structures().is_empty());
        assert!(table(&[1, 0x20, 0, 0]).structures().is_empty());
        // Unterminated string set.
        assert!(table(&[1, 4, 0, 0, b'a']).structures().is_empty());
        let mut bad_index = vec![0u8, 0x12, 0, 0, 1, 3];
        bad_index.resize(0x12, 0);
        bad_index.extend_from_slice(b"x\x01y\0\0");
        let t = table(&bad_index);
        assert_eq!(t.structures()[0].string_at(4).as_deref(), Some("x.y"));
        assert_eq!(bios_version(&t).as_deref(), Some("<BAD INDEX>"));
    }

    #[test]
    fn uuid_byte_order_follows_the_version() {
        let mut d = vec![1u8, 0x1B, 0, 0, 0, 0, 0, 0];
        d.extend(0x00u8..0x10);
        d.resize(0x1B, 0);
        d.extend_from_slice(&[0, 0]);
        let mut t = table(&d);
        assert_eq!(
            system_uuid(&t).as_deref(),
            Some("03020100-0504-0706-0809-0a0b0c0d0e0f")
        );
        t.entry.version = 0x0205;
        assert_eq!(
            system_uuid(&t).as_deref(),
            Some("00010203-0405-0607-0809-0a0b0c0d0e0f")
        );
        for fill in [0x00, 0xFF] {
            let mut d2 = d.clone();
            d2[8..0x18].fill(fill);
            assert_eq!(system_uuid(&table(&d2)), None);
        }
    }
}
