//! Malformed gala-gopher configurations: truncated, unbalanced, bad escapes, binary garbage,
//! and random mutations of the shipped files. None may panic, and a file that does not parse
//! is never written (same bytes, same inode, same mtime) while every switch fails.

mod common;
mod gopher_util;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use aops_agent::gopher::{self, store, Document, GopherError};
use common::TempDir;
use gopher_util::*;

fn items() -> Vec<(String, String)> {
    [("tcp", "off"), ("example", "on"), ("lvs", "auto")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Identity of the file's content on disk: a rewrite changes at least the inode.
fn snapshot(path: &Path) -> (Vec<u8>, u64, i64, i64) {
    let m = std::fs::metadata(path).unwrap();
    (
        std::fs::read(path).unwrap(),
        m.ino(),
        m.mtime(),
        m.mtime_nsec(),
    )
}

/// `bytes` do not parse: switching must fail with a positioned reason and leave the file.
fn assert_rejected_untouched(dir: &Path, bytes: &[u8], what: &str) -> String {
    let path = dir.join("gala-gopher.conf");
    std::fs::write(&path, bytes).unwrap();
    let before = snapshot(&path);
    let err = match gopher::apply_switches(&path, &items()) {
        Err(GopherError::Syntax(e)) => e,
        other => panic!("{what}: expected a syntax error, got {other:?}"),
    };
    // "<path>:<line>:<col>: <reason>"
    let rest = err
        .strip_prefix(&format!("{}:", path.display()))
        .unwrap_or_else(|| panic!("{what}: error does not name the file: {err}"));
    let mut parts = rest.splitn(3, ':');
    let line: usize = parts.next().unwrap().parse().expect("line number");
    let col: usize = parts.next().unwrap().parse().expect("column number");
    assert!(line >= 1 && col >= 1, "{what}: {err}");
    assert!(
        line <= bytes.split(|&b| b == b'\n').count(),
        "{what}: {err}"
    );
    assert!(
        !parts.next().unwrap().trim().is_empty(),
        "{what}: no reason"
    );
    assert_eq!(snapshot(&path), before, "{what}: file was written");
    assert!(
        store::stale_temps(&path).is_empty(),
        "{what}: temp file left"
    );
    assert!(
        matches!(gopher::read_probes(&path), Err(GopherError::Syntax(_))),
        "{what}: read_probes"
    );
    err
}

#[test]
fn truncated_files_inside_a_bracket_are_rejected_and_never_written() {
    let tmp = TempDir::new("gopher-bad-trunc");
    let full = largest_fixture();
    let text = String::from_utf8(full.clone()).unwrap();
    // Cut anywhere inside either probe list, something is always left open.
    let open_ranges = [
        (
            text.find("probes =").unwrap() + "probes =".len(),
            text.find("\n);\n\nextend_probes").unwrap() + 1,
        ),
        (
            text.find("extend_probes =").unwrap() + "extend_probes =".len(),
            text.rfind(')').unwrap(),
        ),
    ];
    let mut rejected = 0;
    for cut in 0..full.len() {
        let part = &full[..cut];
        let parsed = Document::parse(part.to_vec());
        if open_ranges.iter().any(|&(a, b)| cut >= a && cut <= b) {
            assert!(parsed.is_err(), "cut at {cut} parsed");
        }
        if let Ok(d) = &parsed {
            assert_eq!(d.as_bytes(), part);
            continue;
        }
        rejected += 1;
        // The write check costs a file per cut; every 37th is plenty to cover the kinds.
        if cut % 37 == 0 {
            assert_rejected_untouched(tmp.path(), part, &format!("cut at {cut}"));
        }
    }
    assert!(rejected > full.len() / 2, "only {rejected} cuts rejected");
}

fn fixture_with(find: &str, replace: &str) -> Vec<u8> {
    let text = String::from_utf8(largest_fixture()).unwrap();
    assert!(text.contains(find), "{find:?} not in the fixture");
    text.replacen(find, replace, 1).into_bytes()
}

#[test]
fn unbalanced_brackets_are_rejected_and_never_written() {
    let tmp = TempDir::new("gopher-bad-brackets");
    let cases = [
        ("extra '}'", fixture_with("};\n\nmetric", "};}\n\nmetric")),
        (
            "missing ')'",
            fixture_with("    }\n);\n\nextend_probes", "    }\n;\n\nextend_probes"),
        ),
        (
            "missing '{'",
            fixture_with("probes =\n(\n    {", "probes =\n(\n    "),
        ),
        (
            "']' for ')'",
            fixture_with("    }\n);\n\nextend_probes", "    }\n];\n\nextend_probes"),
        ),
        ("unclosed '['", b"a = [1, 2;\nprobes = ();".to_vec()),
        ("lone ')'", b")".to_vec()),
    ];
    for (what, bytes) in cases {
        let e = assert_rejected_untouched(tmp.path(), &bytes, what);
        assert!(!e.is_empty());
    }
}

#[test]
fn bad_escapes_and_strings_are_rejected_and_never_written() {
    let tmp = TempDir::new("gopher-bad-escapes");
    let cases = [
        (
            "NUL escape",
            fixture_with("name = \"tcp\";", "name = \"tcp\\x00\";"),
        ),
        (
            "escaped closing quote",
            fixture_with(
                "switch = \"off\";\n    }\n);",
                "switch = \"off\\\";\n    }\n);",
            ),
        ),
        (
            "backslash at end of file",
            b"probes = ( { name = \"a\\".to_vec(),
        ),
        (
            "raw NUL in a string",
            b"probes = ( { name = \"a\0\"; switch = \"on\"; } );".to_vec(),
        ),
        (
            "unterminated @include",
            b"@include \"other.cfg\nprobes = ();".to_vec(),
        ),
        ("unterminated comment", fixture_with("# 10min", "/* 10min")),
    ];
    for (what, bytes) in cases {
        assert_rejected_untouched(tmp.path(), &bytes, what);
    }
}

#[test]
fn unknown_escapes_stand_for_themselves_as_in_libconfig() {
    // gala-gopher's own files rely on this: start_check = "... grep 'redis\|keydb' ...".
    let d = Document::parse(br#"a = "x\|y\q";"#.to_vec()).unwrap();
    let v = d
        .root()
        .get("a")
        .unwrap()
        .scalar()
        .unwrap()
        .as_str()
        .unwrap();
    assert_eq!(v, r"x\|y\q");
}

#[test]
fn binary_garbage_is_rejected_and_never_written() {
    let tmp = TempDir::new("gopher-bad-binary");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..50 {
        let len = 1 + rng.below(4096);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        // Make sure there is something no libconfig file can hold.
        bytes[rng.below(len)] = 0x01;
        assert_rejected_untouched(tmp.path(), &bytes, &format!("garbage round {round}"));
    }
    let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
    elf.extend_from_slice(&largest_fixture());
    assert_rejected_untouched(tmp.path(), &elf, "ELF header");
}

#[test]
fn invalid_utf8_in_comments_is_kept_byte_for_byte() {
    let tmp = TempDir::new("gopher-latin1");
    let bytes = fixture_with("# 10min", "# 10 min\u{0}").replace_nul_with(0xE9);
    let path = tmp.join("gala-gopher.conf");
    std::fs::write(&path, &bytes).unwrap();
    let r = gopher::apply_switches(&path, &[("tcp".into(), "off".into())]).unwrap();
    assert!(r.changed);
    let after = std::fs::read(&path).unwrap();
    assert!(after.contains_byte_seq(b"# 10 min\xE9"));
    assert_eq!(after.len(), bytes.len() + 1, "\"on\" became \"off\"");
}

trait Bytes {
    fn replace_nul_with(self, b: u8) -> Vec<u8>;
    fn contains_byte_seq(&self, s: &[u8]) -> bool;
}

impl Bytes for Vec<u8> {
    fn replace_nul_with(mut self, b: u8) -> Vec<u8> {
        for c in self.iter_mut().filter(|c| **c == 0) {
            *c = b;
        }
        self
    }
    fn contains_byte_seq(&self, s: &[u8]) -> bool {
        self.windows(s.len()).any(|w| w == s)
    }
}

/// xorshift64*: small, fast, and the same sequence for the same seed everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that mean something to the grammar, so mutations reach deep into the parser.
const INTERESTING: &[&[u8]] = &[
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b"\"",
    b";",
    b",",
    b"=",
    b":",
    b"\\",
    b"#",
    b"//",
    b"/*",
    b"*/",
    b"\n@include \"x\"\n",
    b"\\x00",
    b"\\x4",
    b"0x",
    b"1L",
    b".",
    b"-",
    b"\0",
    b"\xff",
    b"true",
    b"name",
    b"switch",
    b"\"on\"",
    b"\n",
];

fn mutate(rng: &mut Rng, src: &[u8]) -> Vec<u8> {
    let mut b = src.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = rng.below(b.len() + 1);
        match rng.below(5) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            1 => {
                let s = INTERESTING[rng.below(INTERESTING.len())];
                b.splice(at..at, s.iter().copied());
            }
            2 => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                b.drain(at.min(end)..end);
            }
            3 => {
                let end = (at + 1 + rng.below(64)).min(b.len());
                let piece = b[at.min(end)..end].to_vec();
                let to = rng.below(b.len() + 1);
                b.splice(to..to, piece);
            }
            _ => b.truncate(at),
        }
    }
    b
}

/// Random mutations of every fixture, with fixed seeds, for a bounded time: parsing never
/// panics and prints a parsed file back unchanged; a file that does not parse is never
/// written; one that parses is read by libconfig too, to the same values (we are never more
/// lenient, except for the trailing commas libconfig 1.7 accepts and the @include files we do
/// not follow).
#[test]
fn random_mutations_never_panic_and_never_write_bad_files() {
    let tmp = TempDir::new("gopher-fuzz");
    let budget = Duration::from_secs(20);
    let started = Instant::now();
    let fixtures = fixtures();
    let (mut cases, mut valid, mut invalid, mut compared) = (0u32, 0u32, 0u32, 0u32);
    'outer: for seed in 1..=1_000_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        for (name, original) in &fixtures {
            if started.elapsed() > budget || cases >= 20_000 {
                break 'outer;
            }
            cases += 1;
            let m = mutate(&mut rng, original);
            let what = format!("{name} seed {seed}");
            match Document::parse(m.clone()) {
                Ok(d) => {
                    valid += 1;
                    assert_eq!(d.as_bytes(), &m[..], "{what}: not printed back");
                    let include = m.windows(8).any(|w| w == b"@include");
                    if !include {
                        let (plain, _) = without_trailing_commas(&m);
                        let p = tmp.join("for-libconfig.cfg");
                        std::fs::write(&p, &plain).unwrap();
                        let theirs = libconfig_read(&p).unwrap_or_else(|e| {
                            panic!("{what}: we accept what libconfig rejects ({e}): {m:?}")
                        });
                        // And both read the same values; 1.5 wraps a decimal too large
                        // for 32 bits where 1.7 and we make it 64-bit, so those differ.
                        let ours = dump(&d);
                        if !ours.contains(" int64 ") {
                            assert_eq!(theirs, ours, "{what}: read differently: {m:?}");
                        }
                        compared += 1;
                    }
                }
                Err(e) => {
                    invalid += 1;
                    let lines = m.split(|&b| b == b'\n').count();
                    assert!(e.line >= 1 && e.line <= lines && e.col >= 1, "{what}: {e}");
                    if cases % 4 == 0 {
                        assert_rejected_untouched(tmp.path(), &m, &what);
                    }
                }
            }
        }
    }
    println!(
        "{cases} mutations in {:?}: {valid} valid, {invalid} invalid, {compared} compared with libconfig",
        started.elapsed()
    );
    assert!(cases >= 1000, "only {cases} mutations in the time budget");
    assert!(
        valid > 50 && invalid > 50,
        "{valid} valid, {invalid} invalid"
    );
    assert!(compared > 50, "{compared} compared with libconfig");
}
