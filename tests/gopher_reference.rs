//! The gala-gopher configuration editor against the shipped configuration files and two
//! reference readers: Debian's libconfig (C, built here) and PyPI's libconf.
//!
//! Debian 12 ships libconfig 1.5, which rejects a comma before `)` — three of the four shipped
//! files have one, because gala-gopher is built against libconfig 1.7, which accepts it. The C
//! reader therefore gets a copy with only those commas removed (checked to be the only
//! difference); libconf, which accepts them, reads every file exactly as shipped.

mod common;
mod gopher_util;

use std::path::Path;

use aops_agent::gopher::{self, Document};
use common::TempDir;
use gopher_util::*;

/// What the C reader reads from `bytes` (trailing commas removed first when it is 1.5/1.6).
fn libconfig_reads(dir: &Path, bytes: &[u8]) -> Result<String, String> {
    let (plain, _) = without_trailing_commas(bytes);
    let bytes = if libconfig_version() < (1, 7) {
        &plain[..]
    } else {
        bytes
    };
    let p = dir.join("for-libconfig.cfg");
    std::fs::write(&p, bytes).unwrap();
    libconfig_read(&p)
}

fn libconf_reads(dir: &Path, bytes: &[u8]) -> Result<String, String> {
    let p = dir.join("for-libconf.cfg");
    std::fs::write(&p, bytes).unwrap();
    libconf_read(&p)
}

#[test]
fn fixtures_print_back_byte_for_byte() {
    for (name, bytes) in fixtures() {
        let doc = Document::parse(bytes.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(doc.as_bytes(), &bytes[..], "{name}");
    }
}

#[test]
fn fixtures_read_the_same_as_both_reference_readers() {
    let tmp = TempDir::new("gopher-ref-read");
    for (name, bytes) in fixtures() {
        let ours = dump(&Document::parse(bytes.clone()).unwrap());
        assert!(ours.lines().count() > 100, "{name}: dump too short");
        assert_eq!(
            libconfig_reads(tmp.path(), &bytes).unwrap(),
            ours,
            "{name}: libconfig"
        );
        assert_eq!(
            libconf_reads(tmp.path(), &bytes).unwrap(),
            ours,
            "{name}: libconf"
        );
    }
}

#[test]
fn trailing_commas_are_the_only_thing_removed_for_libconfig_1_5() {
    let mut removed = 0;
    for (name, bytes) in fixtures() {
        let (plain, n) = without_trailing_commas(&bytes);
        removed += n;
        assert_eq!(plain.len() + n, bytes.len(), "{name}");
        // Same tree with or without them.
        assert_eq!(
            dump(&Document::parse(plain).unwrap()),
            dump(&Document::parse(bytes).unwrap()),
            "{name}"
        );
    }
    assert_eq!(removed, 3, "the shipped files have three such commas");
    let tmp = TempDir::new("gopher-ref-comma");
    let p = tmp.join("t.cfg");
    std::fs::write(&p, "a = (1, 2,);").unwrap();
    if libconfig_version() < (1, 7) {
        let e = libconfig_read(&p).unwrap_err();
        assert!(e.contains("syntax error"), "{e}");
    } else {
        assert_eq!(
            libconfig_read(&p).unwrap(),
            "a list 2\na[0] int 1\na[1] int 2\n"
        );
    }
}

/// Every construct of the grammar, in the forms both reference readers accept.
const TOUR: &str = r#"# comment
// comment
/* multi-line
   comment */
version = "1.0";
app :
{
  name = "x" /* between */ "y"   # joined
         "z";
  escapes = "tab\there \"q\" back\\slash nl\n \x41\x7e grep 'a\|b'";
  utf8 = "café";
  hex = 0x1F, hex64 = 0x1FFFFFFFFL;
  small = -42; big = 9000000000L; plus = +7
  f1 = 1.5e3; f2 = -0.25; f3 = 2E-2; f4 = 3.;
  yes = TRUE; no = false;
  list = ( 1, "two", { inner = [ 1, 2, 3 ]; }, ( ), [ ], ( 4.5, [ "a", "b" ] ) );
  floats = [ 1.0, 2.5 ];
  nested = { deeper = { deepest = "bottom"; }; };
  empty = { };
};
"#;

#[test]
fn grammar_tour_reads_the_same_as_both_reference_readers() {
    let tmp = TempDir::new("gopher-ref-tour");
    let doc = Document::parse(TOUR.as_bytes().to_vec()).unwrap();
    assert_eq!(doc.as_bytes(), TOUR.as_bytes());
    let ours = dump(&doc);
    assert!(ours.contains("app.name string \"xyz\"\n"), "{ours}");
    assert_eq!(
        libconfig_reads(tmp.path(), TOUR.as_bytes()).unwrap(),
        ours,
        "libconfig"
    );
    assert_eq!(
        libconf_reads(tmp.path(), TOUR.as_bytes()).unwrap(),
        ours,
        "libconf"
    );
}

/// `\xHH` is a byte in libconfig (libconf, reading text, takes it as a code point instead).
#[test]
fn hex_escapes_are_bytes_as_in_libconfig() {
    let tmp = TempDir::new("gopher-ref-bytes");
    let src = "a = \"caf\\xc3\\xa9 \\xff\";";
    let ours = dump(&Document::parse(src.as_bytes().to_vec()).unwrap());
    assert_eq!(ours, "a string \"caf\\xc3\\xa9 \\xff\"\n");
    assert_eq!(libconfig_reads(tmp.path(), src.as_bytes()).unwrap(), ours);
}

#[test]
fn files_libconfig_rejects_are_rejected() {
    let tmp = TempDir::new("gopher-ref-reject");
    let bad = [
        "a = 1; a = 2;",
        "a = [1, \"x\"];",
        "a = [1, 1L];",
        "a = (1 2);",
        "a = { b = 1;",
        "a = 1; }",
        "a = ;",
        "a = 1;;",
        "a 1;",
        "a = \"open",
        "a = [ { } ];",
        "1 = 2;",
        "a = $;",
    ];
    for src in bad {
        assert!(
            libconfig_reads(tmp.path(), src.as_bytes()).is_err(),
            "libconfig accepts {src:?}"
        );
        assert!(
            Document::parse(src.as_bytes().to_vec()).is_err(),
            "we accept {src:?}"
        );
    }
}

/// Where we are deliberately stricter than Debian's libconfig 1.5, which accepts these
/// (silently dropping the rest of the file, truncating the string, reading 0 or wrapping).
#[test]
fn stricter_than_libconfig_where_it_would_misread() {
    let tmp = TempDir::new("gopher-ref-strict");
    let cases = [
        ("a = 1; /* never closed", "unterminated comment"),
        ("a = \"x\\x00y\";", "\\x00"),
        ("a = .;", "not a number"),
        ("a = 99999999999999999999;", "out of range"),
        ("a = 0xFFFFFFFFF;", "does not fit in 32 bits"),
    ];
    for (src, reason) in cases {
        assert!(
            libconfig_reads(tmp.path(), src.as_bytes()).is_ok(),
            "libconfig now rejects {src:?}: this test can be tightened"
        );
        let e = Document::parse(src.as_bytes().to_vec()).unwrap_err();
        assert!(e.reason.contains(reason), "{src:?}: {e}");
    }
}

fn line_diff(a: &str, b: &str) -> Vec<(String, String)> {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!(a.len(), b.len(), "line count changed");
    a.iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| (x.to_string(), y.to_string()))
        .collect()
}

#[test]
fn switching_each_probe_changes_only_its_value() {
    let tmp = TempDir::new("gopher-ref-switch");
    let mut switched = 0;
    let mut for_libconf = Vec::new();
    for (fixture, original) in fixtures() {
        let old_probes = gopher::read_probes(&tmp_copy(tmp.path(), &original)).unwrap();
        let libconfig_before = libconfig_reads(tmp.path(), &original).unwrap();
        for probe in &old_probes {
            let mut states = vec!["on", "off"];
            if probe.support_auto {
                states.push("auto");
            }
            for state in states.into_iter().filter(|s| *s != probe.switch) {
                let ctx = format!("{fixture}: {} {} -> {state}", probe.name, probe.switch);
                let path = tmp_copy(tmp.path(), &original);
                let r = gopher::apply_switches(&path, &[(probe.name.clone(), state.into())])
                    .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(r.success, vec![probe.name.clone()], "{ctx}");
                assert!(r.failure.is_empty() && r.changed, "{ctx}");
                let new = std::fs::read(&path).unwrap();

                // Bytes: one line differs, and only in the quoted value.
                let old_text = String::from_utf8(original.clone()).unwrap();
                let new_text = String::from_utf8(new.clone()).unwrap();
                let d = line_diff(&old_text, &new_text);
                assert_eq!(d.len(), 1, "{ctx}: {d:?}");
                let (was, now) = &d[0];
                assert!(was.trim_start().starts_with("switch"), "{ctx}: {was}");
                let from = format!("\"{}\"", probe.switch);
                assert_eq!(was.matches(&from).count(), 1, "{ctx}: {was}");
                assert_eq!(*now, was.replace(&from, &format!("\"{state}\"")), "{ctx}");

                // Both reference readers see exactly that switch change, on that probe:
                // libconfig now, libconf for all files at once below.
                let ref_after = libconfig_reads(tmp.path(), &new).unwrap();
                let at = check_one_switch(&ctx, &libconfig_before, &ref_after, probe, state);
                let kept = tmp.join(&format!("switched-{switched}.conf"));
                std::fs::copy(&path, &kept).unwrap();
                for_libconf.push((ctx.clone(), kept, ref_after, at));

                // And we read it back the same way.
                let mut want = old_probes.clone();
                for p in want.iter_mut().filter(|p| p.name == probe.name) {
                    p.switch = state.into();
                }
                assert_eq!(gopher::read_probes(&path).unwrap(), want, "{ctx}");
                switched += 1;
            }
        }
    }
    assert!(switched > 100, "only {switched} switches exercised");
    let paths: Vec<&Path> = for_libconf.iter().map(|(_, p, _, _)| p.as_path()).collect();
    let libconf = libconf_read_many(&paths);
    for ((ctx, _, libconfig_after, _), libconf_after) in for_libconf.iter().zip(libconf) {
        assert_eq!(
            &libconf_after.unwrap_or_else(|e| panic!("{ctx}: {e}")),
            libconfig_after,
            "{ctx}: the reference readers disagree"
        );
    }
}

/// The reference dumps before and after differ in one line: the switch of the probe of that
/// name, from its old state to `state`. Returns the probe's path (`extend_probes[3]`).
fn check_one_switch(
    ctx: &str,
    before: &str,
    after: &str,
    probe: &gopher::Probe,
    state: &str,
) -> String {
    let d = line_diff(before, after);
    assert_eq!(d.len(), 1, "{ctx}: {d:?}");
    let (was, now) = &d[0];
    let at = was
        .strip_suffix(&format!(".switch string \"{}\"", probe.switch))
        .unwrap_or_else(|| panic!("{ctx}: {was}"));
    assert_eq!(*now, format!("{at}.switch string \"{state}\""), "{ctx}");
    let name_line = format!("{at}.name string \"{}\"", probe.name);
    assert!(after.lines().any(|l| l == name_line), "{ctx}");
    at.to_string()
}

fn tmp_copy(dir: &Path, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join("gala-gopher.conf");
    std::fs::write(&p, bytes).unwrap();
    p
}
