//! Shared pieces of the gala-gopher configuration tests: the fixtures, a dump of what our
//! parser reads in the reference readers' format, and the two reference readers (Debian's
//! libconfig through a small C program, PyPI's libconf through a Python script).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use aops_agent::gopher::document::{Document, Group, Node, Value};
use aops_agent::gopher::lexer::{self, Kind};
use aops_agent::gopher::scalar::Scalar;

pub const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gala-gopher");
const SUPPORT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support");

/// Every gala-gopher configuration fixture, as (file name, bytes), in name order.
pub fn fixtures() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(FIXTURE_DIR)
        .expect("fixture directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 4,
        "expected the four shipped gala-gopher configurations"
    );
    out
}

pub fn largest_fixture() -> Vec<u8> {
    fixtures()
        .into_iter()
        .max_by_key(|(_, b)| b.len())
        .unwrap()
        .1
}

/// What our parser reads, one line per setting, in the reference readers' format.
pub fn dump(doc: &Document) -> String {
    let mut out = String::new();
    group(doc.root(), "", &mut out);
    out
}

fn group(g: &Group, prefix: &str, out: &mut String) {
    for s in g.settings() {
        let path = if prefix.is_empty() {
            s.name.clone()
        } else {
            format!("{prefix}.{}", s.name)
        };
        node(&s.value, &path, out);
    }
}

fn node(n: &Node, path: &str, out: &mut String) {
    let items = |kind: &str, items: &[Node], out: &mut String| {
        out.push_str(&format!("{path} {kind} {}\n", items.len()));
        for (i, x) in items.iter().enumerate() {
            node(x, &format!("{path}[{i}]"), out);
        }
    };
    match &n.value {
        Value::Group(g) => {
            out.push_str(&format!("{path} group {}\n", g.settings().count()));
            group(g, path, out);
        }
        Value::List(l) => items("list", l, out),
        Value::Array(a) => items("array", a, out),
        Value::Scalar(s) => {
            let v = match s {
                // libconfig keeps these in a C int.
                Scalar::Int(v) => format!("int {}", *v as i32),
                Scalar::Int64(v) => format!("int64 {v}"),
                Scalar::Float(f) => format!("float {:016x}", f.to_bits()),
                Scalar::Bool(b) => format!("bool {}", u8::from(*b)),
                Scalar::Str(b) => {
                    let mut t = String::from("string \"");
                    for &c in b {
                        if !(0x20..0x7f).contains(&c) || c == b'"' || c == b'\\' {
                            t.push_str(&format!("\\x{c:02x}"));
                        } else {
                            t.push(c as char);
                        }
                    }
                    t.push('"');
                    t
                }
            };
            out.push_str(&format!("{path} {v}\n"));
        }
    }
}

/// The C reference reader, built once per test binary against the system's libconfig.
pub fn libconfig_dump_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // Built under a private name, then renamed into place: test binaries running at the
        // same time each build it, and never run a half-written one.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let bin = dir.join("libconfig_dump");
        let own = dir.join(format!("libconfig_dump.{}", std::process::id()));
        let out = Command::new("cc")
            .arg("-O")
            .arg("-o")
            .arg(&own)
            .arg(format!("{SUPPORT_DIR}/libconfig_dump.c"))
            .arg("-lconfig")
            .output()
            .expect("running cc (Debian packages gcc and libconfig-dev)");
        assert!(
            out.status.success(),
            "building the libconfig reference reader failed (needs gcc and libconfig-dev):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(&own, &bin).unwrap();
        bin
    })
}

/// libconfig's version as (major, minor).
pub fn libconfig_version() -> (u32, u32) {
    let out = Command::new(libconfig_dump_bin())
        .arg("--version")
        .output()
        .unwrap();
    let s = String::from_utf8(out.stdout).unwrap();
    let (a, b) = s.trim().split_once('.').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

/// What a reference reader says about a file: its dump, or its error.
fn run(cmd: &mut Command) -> Result<String, String> {
    let mut out = cmd.output().expect("running a reference reader");
    if out.status.code().is_none() {
        // Killed by a signal: a loaded machine, not an answer about the file. Ask once more; a
        // reader that dies twice on the same input fails the test below with its status.
        out = cmd.output().expect("running a reference reader");
    }
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        assert_eq!(
            out.status.code(),
            Some(2),
            "reference reader crashed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn libconfig_read(path: &Path) -> Result<String, String> {
    run(Command::new(libconfig_dump_bin()).arg(path))
}

pub fn libconf_read(path: &Path) -> Result<String, String> {
    libconf_read_many(&[path]).pop().unwrap()
}

/// libconf's reading of each file, in one Python process.
pub fn libconf_read_many(paths: &[&Path]) -> Vec<Result<String, String>> {
    let out = Command::new("python3")
        .arg(format!("{SUPPORT_DIR}/libconf_dump.py"))
        .args(paths)
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "python3 with PyPI's libconf is needed (python3 -m pip install libconf): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // Setting paths start with a letter or '*', so a line starting "=== " is a header.
    let mut results: Vec<Result<String, String>> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("=== ") {
            assert_eq!(
                Path::new(name),
                paths[results.len()],
                "libconf output out of order"
            );
            results.push(Ok(String::new()));
        } else if let Some(e) = line.strip_prefix("!error ") {
            *results.last_mut().unwrap() = Err(e.to_string());
        } else if let Some(Ok(dump)) = results.last_mut() {
            dump.push_str(line);
            dump.push('\n');
        }
    }
    assert_eq!(results.len(), paths.len(), "libconf skipped a file");
    results
}

/// The file without the commas that end a list or array (`(a, b,)`): libconfig accepts them
/// from 1.7 on, the version gala-gopher is built with, but Debian 12 ships 1.5, which does not.
/// Returns the new bytes and how many commas were removed; a file our lexer rejects is
/// returned as it is.
pub fn without_trailing_commas(src: &[u8]) -> (Vec<u8>, usize) {
    let Ok(tokens) = lexer::tokenize(src) else {
        return (src.to_vec(), 0);
    };
    let mut drop = Vec::new();
    for w in tokens.windows(2) {
        if w[0].kind == Kind::Comma && matches!(w[1].kind, Kind::ListEnd | Kind::ArrayEnd) {
            drop.push(w[0].span.start);
        }
    }
    let out = src
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, b)| *b)
        .collect();
    (out, drop.len())
}
