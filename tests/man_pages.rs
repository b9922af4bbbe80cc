//! The manual pages cover what the code has: every command-line option and command of
//! src/cli.rs, every agent.conf key that src/config.rs reads, and every AOPS_AGENT_* variable
//! the agent reads. The lists come from the source, so a key or option added there without a
//! man page entry fails here. The pages also render without a warning from man(1).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A source file without its unit tests: what the program does, not what tests mention.
fn code(rel: &str) -> String {
    let text = read(rel);
    match text.find("#[cfg(test)]") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The string literals of Rust source, in order (normal and raw strings; comments and char
/// literals skipped).
fn literals(src: &str) -> Vec<String> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'r' if (i == 0 || !ident(b[i - 1]))
                && matches!(b.get(i + 1), Some(b'"') | Some(b'#')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while b.get(j) == Some(&b'#') {
                    hashes += 1;
                    j += 1;
                }
                if b.get(j) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = j + 1;
                let end = src[start..].find(&close).map_or(b.len(), |k| start + k);
                out.push(src[start..end].to_string());
                i = end + close.len();
            }
            b'"' => {
                let mut s = String::new();
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    if let Some(c) = src.get(j..j + 1) {
                        s.push_str(c);
                    }
                    j += 1;
                }
                out.push(s);
                i = j + 1;
            }
            b'\'' => {
                // 'x' and '\n' are char literals; anything else is a lifetime.
                if b.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else if b.get(i + 1) == Some(&b'\\') {
                    i += 2;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn is_option(s: &str) -> bool {
    let body = s.strip_prefix("--").or_else(|| s.strip_prefix('-'));
    match body {
        Some(b) if s.starts_with("--") => {
            b.len() > 1
                && b.starts_with(|c: char| c.is_ascii_alphabetic())
                && b.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }
        Some(b) => b.len() == 1 && b.chars().all(|c| c.is_ascii_alphabetic()),
        None => false,
    }
}

/// Options the parser takes: the literals of src/cli.rs that are `-x` or `--word`.
fn code_options() -> BTreeSet<String> {
    literals(&code("src/cli.rs"))
        .into_iter()
        .filter(|l| is_option(l))
        .collect()
}

/// Commands: the arms `Some("name") =>` of the parser's match.
fn code_commands() -> BTreeSet<String> {
    let src = code("src/cli.rs");
    let mut out = BTreeSet::new();
    let mut rest = src.as_str();
    while let Some(i) = rest.find("Some(\"") {
        rest = &rest[i + 6..];
        let Some(end) = rest.find('"') else { break };
        let name = &rest[..end];
        let after = rest[end..].trim_start_matches('"');
        if after.starts_with(')') && after[1..].trim_start().starts_with("=>") {
            out.insert(name.to_string());
        }
    }
    out
}

/// `(section, key)` pairs of config.rs: every call whose first two arguments are
/// identifier-like string literals, as in `get("agent", "port")` and `bad("agent", "port", ..)`.
fn code_config_keys() -> BTreeSet<(String, String)> {
    let mut files = vec![PathBuf::from(ROOT).join("src/config.rs")];
    let dir = Path::new(ROOT).join("src/config");
    if dir.is_dir() {
        rust_files(&dir, &mut files);
    }
    let word = |s: &str| -> Option<(String, usize)> {
        let s2 = s.strip_prefix('"')?;
        let end = s2.find('"')?;
        let w = &s2[..end];
        (!w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .then(|| (w.to_string(), end + 2))
    };
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let src = match text.find("#[cfg(test)]") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        for (i, _) in src.match_indices('(') {
            let rest = src[i + 1..].trim_start();
            let Some((section, n)) = word(rest) else {
                continue;
            };
            let rest = rest[n..].trim_start();
            let Some(rest) = rest.strip_prefix(',') else {
                continue;
            };
            if let Some((key, _)) = word(rest.trim_start()) {
                out.insert((section, key));
            }
        }
    }
    out
}

/// Every `AOPS_AGENT_*` literal in the agent's source.
fn code_env_vars() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    let mut out = BTreeSet::new();
    for f in files {
        let rel = f.strip_prefix(ROOT).unwrap().to_str().unwrap().to_string();
        for l in literals(&code(&rel)) {
            if l.starts_with("AOPS_AGENT_")
                && l[11..]
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                out.insert(l);
            }
        }
    }
    out
}

/// A man page as (section heading, subsection heading, tag words) for every `.TP` entry.
struct Entry {
    section: String,
    subsection: String,
    words: Vec<String>,
}

fn plain(roff: &str) -> String {
    let mut s = roff.replace("\\-", "-").replace("\\(aq", "'");
    for f in ["\\fB", "\\fI", "\\fR", "\\fP"] {
        s = s.replace(f, "");
    }
    s.replace('"', " ")
}

fn entries(page: &str) -> Vec<Entry> {
    let text = read(page);
    let mut out = Vec::new();
    let (mut section, mut subsection) = (String::new(), String::new());
    let mut tag_next = false;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix(".SH ") {
            section = plain(h).trim().to_string();
            subsection.clear();
        } else if let Some(h) = line.strip_prefix(".SS ") {
            subsection = plain(h).trim().to_string();
        } else if line == ".TP" || line == ".TQ" {
            tag_next = true;
        } else if tag_next {
            tag_next = false;
            let body = line
                .split_once(' ')
                .filter(|_| line.starts_with('.'))
                .map_or(line, |(_, b)| b);
            let words = plain(body)
                .split(|c: char| c.is_whitespace() || c == ',')
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect();
            out.push(Entry {
                section: section.clone(),
                subsection: subsection.clone(),
                words,
            });
        }
    }
    out
}

fn tags_in<'a>(e: &'a [Entry], section: &str) -> BTreeSet<&'a str> {
    e.iter()
        .filter(|x| x.section == section)
        .flat_map(|x| x.words.iter().map(String::as_str))
        .collect()
}

#[test]
fn the_scanners_find_what_is_known_to_be_there() {
    // Guards the tests below against a scanner that finds nothing.
    let o = code_options();
    for known in ["-c", "--config", "-f", "-d", "-h", "--help", "--json"] {
        assert!(o.contains(known), "{known} not found in src/cli.rs: {o:?}");
    }
    let c = code_commands();
    for known in ["start", "register", "check"] {
        assert!(c.contains(known), "{known} not found: {c:?}");
    }
    let k = code_config_keys();
    for (s, key) in [
        ("agent", "port"),
        ("gopher", "config_path"),
        ("log", "backup_count"),
    ] {
        assert!(
            k.contains(&(s.to_string(), key.to_string())),
            "[{s}] {key} not found: {k:?}"
        );
    }
    assert!(code_env_vars().contains("AOPS_AGENT_SYSTEMCTL"));
    assert_eq!(
        literals(r##"let a = r#"x "y" z"#; let b = "q\"r"; let c = '"'; // "gone""##),
        [r#"x "y" z"#, "q\"r"]
    );
}

#[test]
fn every_option_and_command_is_in_aops_agent_8_and_in_help() {
    let e = entries("rpm/man/aops_agent.8");
    let options = tags_in(&e, "OPTIONS");
    let commands: BTreeSet<&str> = e
        .iter()
        .filter(|x| x.section == "COMMANDS" && x.subsection.is_empty())
        .filter_map(|x| x.words.first().map(String::as_str))
        .collect();
    let help = aops_agent::cli::HELP;
    for o in code_options() {
        assert!(
            options.contains(o.as_str()),
            "{o} is missing from OPTIONS of aops_agent(8)"
        );
        assert!(help.contains(&o), "{o} is missing from `aops_agent --help`");
    }
    for c in code_commands() {
        assert!(
            commands.contains(c.as_str()),
            "{c} is missing from COMMANDS of aops_agent(8)"
        );
        assert!(help.contains(&c), "{c} is missing from `aops_agent --help`");
    }
}

#[test]
fn every_check_is_in_aops_agent_8() {
    let text = plain(&read("rpm/man/aops_agent.8"));
    let listed: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(".B "))
        .map(str::trim)
        .collect();
    for id in check_ids() {
        assert!(
            listed.contains(id.as_str()),
            "check {id} is not described in aops_agent(8)"
        );
    }
}

/// The check names as `aops_agent check --json` reports them (on whatever this host is).
fn check_ids() -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("aops-man-ids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = common::target_command(env!("CARGO_BIN_EXE_aops_agent"))
        .args(["-c"])
        .arg(dir.join("absent.conf"))
        .args(["check", "--json"])
        .env("AOPS_AGENT_SYSTEMCTL", "/nonexistent/systemctl")
        .env("AOPS_AGENT_JOURNALCTL", "/nonexistent/journalctl")
        .env("AOPS_AGENT_FIREWALL_CMD", "/nonexistent/firewall-cmd")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_environment_variable_is_in_aops_agent_8() {
    let e = entries("rpm/man/aops_agent.8");
    let vars = tags_in(&e, "ENVIRONMENT");
    for v in code_env_vars() {
        assert!(
            vars.contains(v.as_str()),
            "{v} is missing from ENVIRONMENT of aops_agent(8)"
        );
    }
}

#[test]
fn every_agent_conf_key_is_in_agent_conf_5_and_in_check() {
    let e = entries("rpm/man/agent.conf.5");
    let documented: BTreeSet<(String, String)> = e
        .iter()
        .filter(|x| x.section == "OPTIONS" && x.subsection.starts_with('['))
        .filter_map(|x| {
            let section = x
                .subsection
                .trim_matches(|c| c == '[' || c == ']')
                .to_string();
            Some((section, x.words.first()?.clone()))
        })
        .collect();
    let shown: BTreeSet<(String, String)> = aops_agent::check::conf::KEYS
        .iter()
        .map(|(s, k)| (s.to_string(), k.to_string()))
        .collect();
    for (s, k) in code_config_keys() {
        let key = (s.clone(), k.clone());
        assert!(
            documented.contains(&key),
            "[{s}] {k} is missing from agent.conf(5)"
        );
        assert!(
            shown.contains(&key),
            "[{s}] {k} is missing from check::conf::KEYS"
        );
    }
    for (s, k) in &shown {
        assert!(
            documented.contains(&(s.clone(), k.clone())),
            "[{s}] {k} (shown by check) is missing from agent.conf(5)"
        );
    }
}

#[test]
fn the_pages_render_without_warnings() {
    for page in ["rpm/man/aops_agent.8", "rpm/man/agent.conf.5"] {
        // What rpmlint runs on a packaged page.
        let out = Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z"])
            .arg(Path::new(ROOT).join(page))
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("man(1) is needed (bash ci/setup.sh installs man-db)");
        assert!(
            out.status.success(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(warnings.trim().is_empty(), "{page}:\n{warnings}");
    }
}
