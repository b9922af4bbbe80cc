//! agent.conf as the check sees it: whether it parses, every bad value (not only the first),
//! the values in force with defaults marked, and keys the agent does not know.
//!
//! Each key present is validated alone, by giving the agent's own parser a one-key file, so the
//! rules stay those of `config.rs` and a key added there is validated here too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use super::{Facts, Line, Status, APPLY};
use crate::config::{Config, ConfigError};

/// Every key of agent.conf, in the order `check` shows them. The man page agent.conf(5)
/// documents each; a test compares this list with the keys `config.rs` reads.
pub const KEYS: &[(&str, &str)] = &[
    ("agent", "ip"),
    ("agent", "port"),
    ("agent", "token_file"),
    ("agent", "allow_from"),
    ("gopher", "config_path"),
    ("gopher", "control"),
    ("file_collect", "deny"),
    ("log", "log_level"),
    ("log", "log_dir"),
    ("log", "max_bytes"),
    ("log", "backup_count"),
];

/// One key's value in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    pub section: String,
    pub key: String,
    pub value: String,
    /// Not set in the file (or set to a value the agent refuses): the default applies.
    pub default: bool,
}

/// What the check learned from agent.conf.
#[derive(Debug, Clone)]
pub struct Reading {
    pub path: PathBuf,
    pub exists: bool,
    /// Why the agent would refuse the file, as it says it; `None` when it accepts it.
    pub error: Option<ConfigError>,
    /// Every value the agent refuses (the agent itself stops at the first).
    pub bad: Vec<ConfigError>,
    /// The keys the file sets, with their values as written (trimmed).
    pub raw: Vec<(String, String, String)>,
    /// The valid values of the file over the defaults: what the other checks go by.
    pub config: Config,
    /// `[agent] ip` and `port` are valid, so where the socket should listen is known.
    pub address_known: bool,
}

fn options() -> ParseOption {
    // As config.rs reads the file: values taken literally.
    ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        ..ParseOption::default()
    }
}

pub fn read(path: &Path) -> Reading {
    let mut r = Reading {
        path: path.to_path_buf(),
        exists: true,
        error: None,
        bad: Vec::new(),
        raw: Vec::new(),
        config: Config::defaults(path),
        address_known: true,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            r.exists = false;
            return r;
        }
        Err(e) => {
            r.error = Some(ConfigError::Unreadable {
                file: path.to_path_buf(),
                reason: e.to_string(),
            });
            r.address_known = false;
            return r;
        }
    };
    let ini = match Ini::load_from_str_opt(&text, options()) {
        Ok(i) => i,
        Err(_) => {
            r.error = Config::parse(path, &text).err();
            r.address_known = r.error.is_none();
            return r;
        }
    };
    let mut seen = BTreeSet::new();
    for (section, props) in ini.iter() {
        let Some(section) = section else { continue };
        for (key, _) in props.iter() {
            if !seen.insert((section.to_string(), key.to_string())) {
                continue;
            }
            // The value the agent takes for a key given twice is the one `get` gives.
            let value = ini
                .section(Some(section))
                .and_then(|p| p.get(key))
                .unwrap_or_default()
                .trim()
                .to_string();
            r.raw.push((section.to_string(), key.to_string(), value));
        }
    }
    r.error = Config::parse(path, &text).err();
    // One header per section: a section given twice is read as its first occurrence.
    let mut valid: Vec<(&str, String)> = Vec::new();
    for (section, key, value) in &r.raw {
        let one = format!("[{section}]\n{key}={value}\n");
        match Config::parse(path, &one) {
            Ok(_) => match valid.iter_mut().find(|(s, _)| s == section) {
                Some((_, body)) => body.push_str(&format!("{key}={value}\n")),
                None => valid.push((section, format!("{key}={value}\n"))),
            },
            Err(e) => {
                if section == "agent" && (key == "ip" || key == "port") {
                    r.address_known = false;
                }
                r.bad.push(e);
            }
        }
    }
    let valid: String = valid
        .iter()
        .map(|(s, body)| format!("[{s}]\n{body}"))
        .collect();
    if let Ok(c) = Config::parse(path, &valid) {
        r.config = c;
    }
    if r.error.is_some() && r.bad.is_empty() {
        // A rule over several keys: nothing can be trusted key by key.
        r.address_known = false;
    }
    r
}

impl Reading {
    pub fn raw_value(&self, section: &str, key: &str) -> Option<&str> {
        self.raw
            .iter()
            .find(|(s, k, _)| s == section && k == key)
            .map(|(_, _, v)| v.as_str())
    }

    fn is_bad(&self, section: &str, key: &str) -> bool {
        self.bad.iter().any(|e| {
            matches!(e, ConfigError::BadValue { section: s, key: k, .. } if s == section && k == key)
        })
    }

    /// Every key of [`KEYS`] with the value in force.
    pub fn values(&self) -> Vec<Value> {
        KEYS.iter()
            .map(|(section, key)| {
                let raw = self.raw_value(section, key);
                let default = raw.is_none() || self.is_bad(section, key);
                let value = in_force(&self.config, section, key, raw.filter(|_| !default));
                Value {
                    section: section.to_string(),
                    key: key.to_string(),
                    value,
                    default,
                }
            })
            .collect()
    }

    /// Keys in the file that the agent does not read.
    pub fn unknown_keys(&self) -> Vec<(String, String)> {
        self.raw
            .iter()
            .filter(|(s, k, _)| !KEYS.contains(&(s.as_str(), k.as_str())))
            .map(|(s, k, _)| (s.clone(), k.clone()))
            .collect()
    }
}

/// The value the agent goes by: typed keys as `Config` holds them, the others as written.
fn in_force(c: &Config, section: &str, key: &str, raw: Option<&str>) -> String {
    match (section, key) {
        ("agent", "ip") => c.ip.to_string(),
        ("agent", "port") => c.port.to_string(),
        ("agent", "token_file") => c.token_file.display().to_string(),
        ("gopher", "config_path") => c.gopher_config_path.as_ref().map_or_else(
            || raw.unwrap_or_default().to_string(),
            |p| p.display().to_string(),
        ),
        ("log", "log_level") => c.log_level.name().to_string(),
        ("log", "log_dir") => c.log_dir.display().to_string(),
        ("log", "max_bytes") => c.max_bytes.to_string(),
        ("log", "backup_count") => c.backup_count.to_string(),
        ("gopher", "control") => raw.unwrap_or("auto").to_string(),
        // Keys with no default value: empty when not set.
        _ => raw.unwrap_or_default().to_string(),
    }
}

/// What to write instead of a refused value.
fn edit_for(e: &ConfigError) -> String {
    match e {
        ConfigError::BadValue {
            section,
            key,
            expected,
            ..
        } => format!("set [{section}] {key} to {expected}"),
        ConfigError::Syntax { reason, .. } => format!("correct the syntax ({reason})"),
        ConfigError::Unreadable { .. } => "make it readable".to_string(),
    }
}

/// `agent.conf`: parses, with the values in force; every refused value named.
pub fn line(f: &Facts) -> Line {
    let r = &f.conf;
    let path = r.path.display();
    let mut details: Vec<String> = r
        .values()
        .iter()
        .map(|v| {
            let mark = if v.default { " (default)" } else { "" };
            if v.value.is_empty() {
                format!("[{}] {} is not set{mark}", v.section, v.key)
            } else {
                format!("[{}] {} = {}{mark}", v.section, v.key, v.value)
            }
        })
        .collect();
    if let Some(e) = &r.error {
        let errors: Vec<&ConfigError> = if r.bad.is_empty() {
            vec![e]
        } else {
            r.bad.iter().collect()
        };
        let fix = match e {
            ConfigError::Unreadable { .. } => format!("chmod 0644 {path}"),
            _ => format!(
                "edit {path}: {}; then: {APPLY}",
                errors
                    .iter()
                    .map(|e| edit_for(e))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        let mut lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let summary = if lines.len() == 1 {
            lines.remove(0)
        } else {
            format!("{path}: {} values are invalid", lines.len())
        };
        lines.append(&mut details);
        return Line::new("agent.conf", Status::Fail, summary)
            .fix(fix)
            .details(lines);
    }
    let unknown = r.unknown_keys();
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|(s, k)| format!("[{s}] {k}")).collect();
        return Line::new(
            "agent.conf",
            Status::Warn,
            format!(
                "{path}: the agent does not know {}, and ignores it",
                names.join(", ")
            ),
        )
        .fix(format!(
            "edit {path}: correct or remove {} (the keys are in agent.conf(5))",
            names.join(", ")
        ))
        .details(details);
    }
    let summary = if r.exists {
        format!("{path} is valid")
    } else {
        format!("{path} does not exist: every value is its default")
    };
    Line::new("agent.conf", Status::Ok, summary).details(details)
}

/// `[agent] allow_from`: who may call, read from the file as written.
pub fn allow_from_line(f: &Facts) -> Line {
    let r = &f.conf;
    match r.raw_value("agent", "allow_from").filter(|v| !v.is_empty()) {
        Some(v) => Line::new(
            "allow_from",
            Status::Ok,
            format!("[agent] allow_from = {v}: only these addresses and loopback may call"),
        ),
        None => Line::new(
            "allow_from",
            Status::Warn,
            "[agent] allow_from is not set: any address that reaches the port may call the API",
        )
        .fix(format!(
            "edit {}: add allow_from=<aops-manager's address> under [agent]; then: \
             systemctl restart aops-agent.service",
            r.path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::fake::Scratch;

    fn reading(tag: &str, text: &str) -> (Scratch, Reading) {
        let d = Scratch::new(&format!("check-conf-{tag}"));
        let p = d.join("agent.conf");
        std::fs::write(&p, text).unwrap();
        let r = read(&p);
        (d, r)
    }

    #[test]
    fn values_in_force_mark_the_defaults() {
        let (_d, r) = reading(
            "values",
            "[agent]\nip=0.0.0.0\nport=12001\n[log]\nlog_level=debug\n",
        );
        assert_eq!(r.config.ip.to_string(), "0.0.0.0");
        assert_eq!(r.config.port, 12001);
        assert!(r.error.is_none() && r.address_known);
        let v = r.values();
        let get = |k: &str| v.iter().find(|x| x.key == k).unwrap().clone();
        assert_eq!(
            (get("port").value.as_str(), get("port").default),
            ("12001", false)
        );
        assert_eq!(
            (get("ip").value.as_str(), get("ip").default),
            ("0.0.0.0", false)
        );
        assert_eq!(get("token_file").value, "/etc/aops/agent_token.json");
        assert!(get("token_file").default);
        assert_eq!(get("log_level").value, "DEBUG");
        assert_eq!(get("control").value, "auto");
        assert_eq!(v.len(), KEYS.len());
    }

    #[test]
    fn every_bad_value_is_named_and_the_good_ones_still_count() {
        let (_d, r) = reading(
            "bad",
            "[agent]\nport=abc\ntoken_file=/x/t.json\n[log]\nlog_level=loud\n",
        );
        assert!(r.error.is_some());
        assert_eq!(r.bad.len(), 2);
        assert!(!r.address_known);
        assert_eq!(r.config.token_file, PathBuf::from("/x/t.json"));
        let port = r.values().into_iter().find(|v| v.key == "port").unwrap();
        assert!(port.default && port.value == "12000");
    }

    #[test]
    fn a_bad_log_level_leaves_the_address_known() {
        let (_d, r) = reading("level", "[agent]\nport=12001\n[log]\nlog_level=loud\n");
        assert!(r.error.is_some() && r.address_known);
        assert_eq!(r.config.port, 12001);
    }

    #[test]
    fn unknown_keys_are_found() {
        let (_d, r) = reading("unknown", "[agent]\nprot=1\n[gopher]\ncontrol=rest\n");
        assert_eq!(
            r.unknown_keys(),
            [("agent".to_string(), "prot".to_string())]
        );
    }

    #[test]
    fn a_missing_file_is_all_defaults() {
        let d = Scratch::new("check-conf-missing");
        let r = read(&d.join("none.conf"));
        assert!(!r.exists && r.error.is_none() && r.address_known);
        assert!(r.values().iter().all(|v| v.default));
    }
}
