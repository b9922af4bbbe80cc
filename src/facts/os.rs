//! The `os` fact: distribution name, BIOS version and kernel release.

use serde_json::{json, Value};

use super::root::Root;
use super::smbios::{self, Table};

pub fn to_json(root: &Root, table: Option<&Table>) -> Value {
    json!({
        "os_version": os_version(root),
        "bios_version": table.and_then(smbios::bios_version).unwrap_or_default(),
        "kernel": kernel(root),
    })
}

/// `PRETTY_NAME` from os-release (the /usr/lib copy is the documented fallback).
pub fn os_version(root: &Root) -> Option<String> {
    let text = root
        .read_optional("/etc/os-release")
        .or_else(|| root.read("/usr/lib/os-release"))?;
    text.lines().find_map(|l| {
        let value = l.trim().strip_prefix("PRETTY_NAME=")?;
        Some(unquote(value))
    })
}

/// Shell-style value: `"a \"b\""`, `'a'` or bare.
fn unquote(v: &str) -> String {
    let v = v.trim();
    if let Some(inner) = v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return inner.to_string();
    }
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return v.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn kernel(root: &Root) -> Option<String> {
    let release = match root.is_live() {
        true => super::root::uname().map(|u| u.release)?,
        false => root.attr("/proc/sys/kernel/osrelease")?,
    };
    (!release.is_empty()).then(|| kernel_version(&release).to_string())
}

/// The leading `digits.dots-digits.dots` part (`5.10.0-60.18.0.50` of
/// `5.10.0-60.18.0.50.oe2203.x86_64`); the whole release where there is no such part.
pub fn kernel_version(release: &str) -> &str {
    let b = release.as_bytes();
    // Where a run of digit groups joined by dots, starting at `i`, ends; `None` without a digit.
    let dotted = |mut i: usize| -> Option<usize> {
        let mut end = None;
        loop {
            let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return end;
            }
            i += digits;
            end = Some(i);
            if b.get(i) != Some(&b'.') {
                return end;
            }
            i += 1;
        }
    };
    let Some(upstream) = dotted(0) else {
        return release;
    };
    if b.get(upstream) != Some(&b'-') {
        return release;
    }
    match dotted(upstream + 1) {
        Some(end) => &release[..end],
        None => release,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_release_rule() {
        assert_eq!(
            kernel_version("5.10.0-60.18.0.50.oe2203.x86_64"),
            "5.10.0-60.18.0.50"
        );
        assert_eq!(
            kernel_version("4.19.90-2102.2.0.0062.oe1.aarch64"),
            "4.19.90-2102.2.0.0062"
        );
        assert_eq!(kernel_version("5.15.0-91-generic"), "5.15.0-91");
        assert_eq!(kernel_version("6.1.0-13-amd64"), "6.1.0-13");
        assert_eq!(kernel_version("6.18.44-fc-v669"), "6.18.44-fc-v669");
        assert_eq!(kernel_version("6.18.44"), "6.18.44");
        assert_eq!(kernel_version("5.10.0-60."), "5.10.0-60");
        assert_eq!(kernel_version("abc"), "abc");
        assert_eq!(kernel_version("5-"), "5-");
    }

    #[test]
    fn pretty_name_quoting() {
        assert_eq!(unquote("\"openEuler 22.03 LTS\""), "openEuler 22.03 LTS");
        assert_eq!(unquote("'Debian'"), "Debian");
        assert_eq!(unquote("Plain"), "Plain");
        assert_eq!(unquote(r#""say \"hi\"""#), "say \"hi\"");
    }
}
