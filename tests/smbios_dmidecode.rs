//! SMBIOS tables built here, decoded both by the agent and by `dmidecode --from-dump`
//! (Debian package `dmidecode`): the strings must match.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Agent, Options, TempDir};
use serde_json::Value;

// --- building tables ----------------------------------------------------------------------------

/// One structure: formatted area of `len` bytes (fields at absolute offsets) plus strings.
fn structure(
    kind: u8,
    handle: u16,
    len: u8,
    fields: &[(usize, &[u8])],
    strings: &[&[u8]],
) -> Vec<u8> {
    let mut s = vec![0u8; usize::from(len)];
    s[0] = kind;
    s[1] = len;
    s[2..4].copy_from_slice(&handle.to_le_bytes());
    for (off, val) in fields {
        s[*off..*off + val.len()].copy_from_slice(val);
    }
    if strings.is_empty() {
        s.extend_from_slice(&[0, 0]);
    } else {
        for st in strings {
            s.extend_from_slice(st);
            s.push(0);
        }
        s.push(0);
    }
    s
}

fn bios(version: &[u8], len: u8) -> Vec<u8> {
    structure(
        0,
        0,
        len,
        &[
            (4, &[1]),
            (5, &[2]),
            (6, &0xF000u16.to_le_bytes()),
            (8, &[3]),
            (9, &[0xFF]),
            (0x0A, &[0x08]),
        ],
        &[b"American Megatrends Inc.", version, b"03/01/2023"],
    )
}

fn system(uuid: [u8; 16]) -> Vec<u8> {
    structure(
        1,
        1,
        0x1B,
        &[(4, &[1]), (5, &[2]), (8, &uuid), (0x18, &[6])],
        &[b"Lenovo", b"ThinkSystem SR650 V3"],
    )
}

#[derive(Clone, Copy, Default)]
struct Dimm {
    size: u16,
    extended_size: u32,
    kind: u8,
    speed: u16,
    extended_speed: u32,
    maker: Option<&'static [u8]>,
}

fn dimm(handle: u16, len: u8, d: Dimm) -> Vec<u8> {
    let mut fields: Vec<(usize, Vec<u8>)> = vec![
        (0x04, 0x1000u16.to_le_bytes().to_vec()),
        (0x08, 72u16.to_le_bytes().to_vec()),
        (0x0A, 64u16.to_le_bytes().to_vec()),
        (0x0C, d.size.to_le_bytes().to_vec()),
        (0x0E, vec![0x09]),
        (0x10, vec![1]),
        (0x11, vec![2]),
        (0x12, vec![d.kind]),
    ];
    if len >= 0x17 {
        fields.push((0x15, d.speed.to_le_bytes().to_vec()));
    }
    let mut strings: Vec<&[u8]> = vec![b"DIMM", b"BANK"];
    if len >= 0x1B {
        if let Some(m) = d.maker {
            strings.push(m);
            fields.push((0x17, vec![3]));
        }
    }
    if len >= 0x20 {
        fields.push((0x1C, d.extended_size.to_le_bytes().to_vec()));
    }
    if len >= 0x5C {
        fields.push((0x54, d.extended_speed.to_le_bytes().to_vec()));
    }
    let refs: Vec<(usize, &[u8])> = fields.iter().map(|(o, v)| (*o, v.as_slice())).collect();
    structure(17, handle, len, &refs, &strings)
}

fn empty_slot(handle: u16, len: u8) -> Vec<u8> {
    dimm(
        handle,
        len,
        Dimm {
            kind: 0x02,
            maker: Some(b"NO DIMM"),
            ..Dimm::default()
        },
    )
}

fn end_of_table() -> Vec<u8> {
    structure(127, 0xFEFF, 4, &[], &[])
}

fn checksum(bytes: &mut [u8], at: usize) {
    bytes[at] = 0;
    let sum = bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b));
    bytes[at] = sum.wrapping_neg();
}

/// A 3.x entry point whose table sits at `address`.
fn entry_v3(major: u8, minor: u8, table_len: usize, address: u64) -> Vec<u8> {
    let mut ep = vec![0u8; 0x18];
    ep[..5].copy_from_slice(b"_SM3_");
    ep[6] = 0x18;
    ep[7] = major;
    ep[8] = minor;
    ep[0x0A] = 1;
    ep[0x0C..0x10].copy_from_slice(&(table_len as u32).to_le_bytes());
    ep[0x10..0x18].copy_from_slice(&address.to_le_bytes());
    checksum(&mut ep, 5);
    ep
}

/// A 2.x entry point whose table of `count` structures sits at `address`.
fn entry_v2(major: u8, minor: u8, table_len: usize, address: u32, count: usize) -> Vec<u8> {
    let mut ep = vec![0u8; 0x1F];
    ep[..4].copy_from_slice(b"_SM_");
    ep[5] = 0x1F;
    ep[6] = major;
    ep[7] = minor;
    ep[0x10..0x15].copy_from_slice(b"_DMI_");
    ep[0x16..0x18].copy_from_slice(&(table_len as u16).to_le_bytes());
    ep[0x18..0x1C].copy_from_slice(&address.to_le_bytes());
    ep[0x1C..0x1E].copy_from_slice(&(count as u16).to_le_bytes());
    checksum(&mut ep[0x10..0x1F], 5);
    checksum(&mut ep, 4);
    ep
}

struct Tables {
    v3: bool,
    major: u8,
    minor: u8,
    structures: Vec<Vec<u8>>,
}

impl Tables {
    fn table(&self) -> Vec<u8> {
        self.structures.concat()
    }

    /// The entry point with the table at `address`.
    fn entry(&self, address: u32) -> Vec<u8> {
        let len = self.table().len();
        if self.v3 {
            entry_v3(self.major, self.minor, len, u64::from(address))
        } else {
            entry_v2(self.major, self.minor, len, address, self.structures.len())
        }
    }
}

/// dmidecode's dump format: the entry point at offset 0, pointing at the table at offset 32.
fn dump_file(entry: &[u8], table: &[u8], path: &Path) {
    let mut ep = entry.to_vec();
    if ep.starts_with(b"_SM3_") {
        ep[0x10..0x18].copy_from_slice(&32u64.to_le_bytes());
        checksum(&mut ep[..0x18], 5);
    } else {
        ep[0x18..0x1C].copy_from_slice(&32u32.to_le_bytes());
        checksum(&mut ep[0x10..0x1F], 5);
        checksum(&mut ep[..0x1F], 4);
    }
    ep.resize(32, 0);
    ep.extend_from_slice(table);
    std::fs::write(path, ep).unwrap();
}

/// A facts root holding the tables where Linux exports them (the address is the firmware's).
fn sysfs_root(entry: &[u8], table: &[u8], root: &Path) {
    let dir = root.join("sys/firmware/dmi/tables");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("smbios_entry_point"), entry).unwrap();
    std::fs::write(dir.join("DMI"), table).unwrap();
}

// --- reading dmidecode ------------------------------------------------------------------------

fn dmidecode(dump: &Path, args: &[&str]) -> String {
    let out = Command::new("dmidecode")
        .arg("--from-dump")
        .arg(dump)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run dmidecode (Debian package dmidecode, installed by ci/setup.sh): {e}")
        });
    assert!(out.status.success(), "dmidecode {args:?} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `Size`/`Type`/`Speed`/`Manufacturer` of each installed type-17 device, trimmed as the agent
/// reports them.
fn dmidecode_dimms(dump: &Path) -> Vec<[String; 4]> {
    let text = dmidecode(dump, &["-t", "17"]);
    let mut out = Vec::new();
    for block in text.split("\nHandle ").skip(1) {
        assert!(block.contains("\nMemory Device\n"), "{block}");
        let attr = |key: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix('\t')?.strip_prefix(key)?.strip_prefix(": "))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        if attr("Size") == "No Module Installed" {
            continue;
        }
        out.push([
            attr("Size"),
            attr("Type"),
            attr("Speed"),
            attr("Manufacturer"),
        ]);
    }
    out
}

fn agent_dimms(memory: &Value) -> Vec<[String; 4]> {
    memory["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            ["size", "type", "speed", "manufacturer"].map(|k| d[k].as_str().unwrap().to_string())
        })
        .collect()
}

/// Decodes `entry`+`table` with the running agent and with dmidecode, and compares.
fn compare(name: &str, entry: &[u8], table: &[u8]) -> Value {
    let t = TempDir::new(&format!("smbios-{name}"));
    let root = t.join("root");
    sysfs_root(entry, table, &root);
    let dump = t.join("dump.bin");
    dump_file(entry, table, &dump);

    let agent = Agent::start_with(Options {
        env: vec![(
            "AOPS_AGENT_SYSROOT".into(),
            root.to_string_lossy().into_owned(),
        )],
        ..Options::default()
    });
    let r = agent.call("POST", "/v1/agent/host/info", Some(r#"["memory", "os"]"#));
    assert_eq!(r.code(), 200);
    let resp = r.json()["resp"].clone();

    let theirs = dmidecode_dimms(&dump);
    assert_eq!(agent_dimms(&resp["memory"]), theirs, "{name}: DIMMs");
    assert_eq!(resp["memory"]["total"], theirs.len(), "{name}");

    let bios = dmidecode(&dump, &["-s", "bios-version"]);
    assert_eq!(
        resp["os"]["bios_version"],
        bios.trim(),
        "{name}: BIOS version"
    );

    let uuid = dmidecode(&dump, &["-s", "system-uuid"]).trim().to_string();
    let ours = aops_agent::facts::system_uuid(&root);
    match uuid.as_str() {
        "Not Present" | "Not Settable" | "" => {
            assert_eq!(ours, None, "{name}: dmidecode says {uuid:?}")
        }
        _ => assert_eq!(ours, Some(uuid.replace('-', "")), "{name}: system UUID"),
    }
    resp
}

const UUID: [u8; 16] = [
    0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0, 0x0F, 0x1E, 0x2D, 0x3C, 0x4B, 0x5A, 0x69, 0x78,
];

#[test]
fn smbios_3x_ddr5_with_extended_sizes_and_speeds() {
    let t = Tables {
        v3: true,
        major: 3,
        minor: 3,
        structures: vec![
            bios(b"EGSVRBMC-1.24   ", 0x1A),
            system(UUID),
            // 32 GB does not fit the 15-bit size field: 0x7FFF plus the extended size.
            dimm(
                0x10,
                0x5C,
                Dimm {
                    size: 0x7FFF,
                    extended_size: 32768,
                    kind: 0x22,
                    speed: 4800,
                    maker: Some(b"Samsung"),
                    ..Dimm::default()
                },
            ),
            empty_slot(0x11, 0x5C),
            dimm(
                0x12,
                0x5C,
                Dimm {
                    size: 0x7FFF,
                    extended_size: 98304,
                    kind: 0x22,
                    speed: 5600,
                    maker: Some(b"SK Hynix        "),
                    ..Dimm::default()
                },
            ),
            empty_slot(0x13, 0x5C),
            // Speeds above 65534 MT/s live in the extended speed field.
            dimm(
                0x14,
                0x5C,
                Dimm {
                    size: 0x7FFF,
                    extended_size: 2 << 20,
                    kind: 0x22,
                    speed: 0xFFFF,
                    extended_speed: 70400,
                    maker: Some(b"Micron Technology"),
                },
            ),
            dimm(
                0x15,
                0x5C,
                Dimm {
                    size: 16384,
                    kind: 0x23,
                    speed: 0,
                    maker: None,
                    ..Dimm::default()
                },
            ),
            dimm(
                0x16,
                0x54,
                Dimm {
                    size: 0x7FFF,
                    extended_size: 33000,
                    kind: 0x22,
                    speed: 6400,
                    maker: Some(b"Kingston\x01\x7f\xe9"),
                    ..Dimm::default()
                },
            ),
            end_of_table(),
        ],
    };
    let resp = compare("v3", &t.entry(0x6F3A_0000), &t.table());
    // The comparison above is only as good as what was decoded: make sure it was all of it.
    let sizes: Vec<&str> = resp["memory"]["info"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["size"].as_str().unwrap())
        .collect();
    assert_eq!(sizes, ["32 GB", "96 GB", "2 TB", "16 GB", "33000 MB"]);
    assert_eq!(resp["memory"]["info"][0]["type"], "DDR5");
    assert_eq!(resp["memory"]["info"][2]["speed"], "70400 MT/s");
    assert_eq!(resp["memory"]["info"][3]["manufacturer"], "Not Specified");
    assert_eq!(resp["memory"]["info"][4]["manufacturer"], "Kingston...");
    assert_eq!(resp["os"]["bios_version"], "EGSVRBMC-1.24");
}

#[test]
fn smbios_2x_ddr3_and_ddr4_with_empty_slots() {
    let t = Tables {
        v3: false,
        major: 2,
        minor: 7,
        structures: vec![
            bios(b"P89", 0x18),
            system(UUID),
            dimm(
                0x1100,
                0x28,
                Dimm {
                    size: 8192,
                    kind: 0x18,
                    speed: 1600,
                    maker: Some(b"HP"),
                    ..Dimm::default()
                },
            ),
            empty_slot(0x1101, 0x28),
            empty_slot(0x1102, 0x28),
            dimm(
                0x1103,
                0x28,
                Dimm {
                    size: 1536,
                    kind: 0x1A,
                    speed: 2400,
                    maker: Some(b"Micron"),
                    ..Dimm::default()
                },
            ),
            dimm(
                0x1104,
                0x28,
                Dimm {
                    size: 0x8000 | 512,
                    kind: 0x12,
                    speed: 800,
                    maker: Some(b"Elpida"),
                    ..Dimm::default()
                },
            ),
            end_of_table(),
        ],
    };
    let resp = compare("v2", &t.entry(0x000F_0000), &t.table());
    assert_eq!(resp["memory"]["total"], 3);
    assert_eq!(resp["memory"]["info"][0]["size"], "8 GB");
    assert_eq!(resp["memory"]["info"][1]["size"], "1536 MB");
    assert_eq!(resp["memory"]["info"][2]["size"], "512 kB");
}

#[test]
fn smbios_2x_older_layouts_and_uuid_byte_order() {
    // 2.5: the UUID is printed in network order; 2.3 structures have no extended size and a
    // 2.1 one has neither speed nor manufacturer.
    let mut structures = vec![
        bios(b"1.0.4", 0x14),
        system(UUID),
        dimm(
            0x20,
            0x1B,
            Dimm {
                size: 4096,
                kind: 0x13,
                speed: 667,
                maker: Some(b"Infineon"),
                ..Dimm::default()
            },
        ),
        dimm(
            0x21,
            0x15,
            Dimm {
                size: 2048,
                kind: 0x12,
                ..Dimm::default()
            },
        ),
    ];
    structures.push(end_of_table());
    let t = Tables {
        v3: false,
        major: 2,
        minor: 5,
        structures,
    };
    let resp = compare("v25", &t.entry(0x000F_0000), &t.table());
    assert_eq!(resp["memory"]["total"], 2);
    let d = TempDir::new("uuid25");
    sysfs_root(&t.entry(0), &t.table(), d.path());
    assert_eq!(
        aops_agent::facts::system_uuid(d.path()),
        Some("123456789abcdef00f1e2d3c4b5a6978".into())
    );

    // 2.33 is a known-bad version dmidecode reads as 2.6: little-endian UUID fields.
    let t = Tables {
        v3: false,
        major: 2,
        minor: 0x33,
        structures: t.structures,
    };
    compare("v233", &t.entry(0x000F_0000), &t.table());
}

#[test]
fn absent_uuids_and_no_dimms() {
    for (name, fill) in [("ff", 0xFFu8), ("zero", 0x00u8)] {
        let t = Tables {
            v3: true,
            major: 3,
            minor: 0,
            structures: vec![bios(b"", 0x1A), system([fill; 16]), end_of_table()],
        };
        let resp = compare(name, &t.entry(0x1000), &t.table());
        assert_eq!(resp["memory"]["total"], 0);
        assert_eq!(resp["memory"]["info"], serde_json::json!([]));
    }
}

/// The committed fixture hosts' tables decode the same way too.
#[test]
fn fixture_host_tables_match_dmidecode() {
    for host in ["kunpeng920", "x86-baremetal"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/hosts")
            .join(host)
            .join("sys/firmware/dmi/tables");
        let entry = std::fs::read(dir.join("smbios_entry_point")).unwrap();
        let table = std::fs::read(dir.join("DMI")).unwrap();
        let resp = compare(host, &entry, &table);
        assert!(resp["memory"]["total"].as_u64().unwrap() >= 2, "{host}");
    }
}

/// A 2.x table is as long as its entry point says, end-of-table marker or not; a 3.x table
/// ends at the marker.
#[test]
fn structures_after_end_of_table() {
    let after = || {
        dimm(
            0x30,
            0x28,
            Dimm {
                size: 4096,
                kind: 0x1A,
                speed: 2133,
                maker: Some(b"Late"),
                ..Dimm::default()
            },
        )
    };
    let v2 = Tables {
        v3: false,
        major: 2,
        minor: 8,
        structures: vec![bios(b"A", 0x18), end_of_table(), after()],
    };
    let resp = compare("eot-v2", &v2.entry(0x000F_0000), &v2.table());
    assert_eq!(resp["memory"]["total"], 1);
    let v3 = Tables {
        v3: true,
        major: 3,
        minor: 0,
        structures: v2.structures,
    };
    let resp = compare("eot-v3", &v3.entry(0x1000), &v3.table());
    assert_eq!(resp["memory"]["total"], 0);
}
