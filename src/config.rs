//! /etc/aops/agent.conf: defaults, parsing and validation.
//!
//! A missing file or key takes its default; a value that is present but wrong stops the agent with
//! an error naming the file, section, key and value, because a silent default would have the agent
//! listen somewhere the operator did not ask for.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use crate::files::credentials::PathPattern;
use crate::log::Level;
use crate::peers::AllowList;

pub const DEFAULT_PATH: &str = "/etc/aops/agent.conf";
pub const DEFAULT_IP: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 12000;
pub const DEFAULT_TOKEN_FILE: &str = "/etc/aops/agent_token.json";
/// Where gala-gopher keeps its configuration, newest layout first (1.0.2 moved it to /etc).
pub const GOPHER_CONFIG_CANDIDATES: &[&str] = &[
    "/etc/gala-gopher/gala-gopher.conf",
    "/opt/gala-gopher/gala-gopher.conf",
];
pub const DEFAULT_LOG_DIR: &str = "/var/log/aops";
pub const DEFAULT_MAX_BYTES: u64 = 31_457_280;
pub const DEFAULT_BACKUP_COUNT: u32 = 40;

#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file this was read from (it may not exist: then every value is a default).
    pub path: PathBuf,
    pub ip: IpAddr,
    pub port: u16,
    pub token_file: PathBuf,
    /// `[gopher] config_path` as set; `None` means "discover it" (`gopher::discover`).
    pub gopher_config_path: Option<PathBuf>,
    /// `[gopher] control`: how probes are switched.
    pub gopher_control: GopherControl,
    pub log_level: Level,
    /// Kept for compatibility with the file-based logging of earlier agents; unused.
    pub log_dir: PathBuf,
    pub max_bytes: u64,
    pub backup_count: u32,
    /// `[agent] allow_from`: who may call besides loopback; `None` (absent) means anyone.
    pub allow_from: Option<AllowList>,
    /// `[file_collect] deny`: absolute paths or `*` globs refused on top of the built-in list.
    pub file_collect_deny: Vec<PathPattern>,
}

impl Config {
    pub fn defaults(path: &Path) -> Config {
        Config {
            path: path.to_path_buf(),
            ip: DEFAULT_IP.parse().expect("default ip"),
            port: DEFAULT_PORT,
            token_file: PathBuf::from(DEFAULT_TOKEN_FILE),
            gopher_config_path: None,
            gopher_control: GopherControl::Auto,
            log_level: Level::Info,
            log_dir: PathBuf::from(DEFAULT_LOG_DIR),
            max_bytes: DEFAULT_MAX_BYTES,
            backup_count: DEFAULT_BACKUP_COUNT,
            allow_from: None,
            file_collect_deny: Vec::new(),
        }
    }

    /// Reads `path`; a file that does not exist gives the defaults.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::defaults(path)),
            Err(e) => Err(ConfigError::Unreadable {
                file: path.to_path_buf(),
                reason: e.to_string(),
            }),
        }
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        // Python's configparser, which wrote and read these files before, knows no escapes or
        // quotes: take values literally.
        let opt = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            ..ParseOption::default()
        };
        let ini = Ini::load_from_str_opt(text, opt).map_err(|e| ConfigError::Syntax {
            file: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut c = Config::defaults(path);
        let get = |section: &str, key: &str| -> Option<String> {
            ini.section(Some(section))
                .and_then(|s| s.get(key))
                .map(|v| v.trim().to_string())
        };
        let bad = |section: &str, key: &str, value: &str, expected: &str| ConfigError::BadValue {
            file: path.to_path_buf(),
            section: section.to_string(),
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        };

        if let Some(v) = get("agent", "ip") {
            c.ip = v
                .parse()
                .map_err(|_| bad("agent", "ip", &v, "an IPv4 or IPv6 address"))?;
        }
        if let Some(v) = get("agent", "port") {
            c.port = parse_port(&v)
                .ok_or_else(|| bad("agent", "port", &v, "a port number from 1 to 65535"))?;
        }
        if let Some(v) = get("agent", "token_file") {
            c.token_file =
                absolute(&v).ok_or_else(|| bad("agent", "token_file", &v, "an absolute path"))?;
        }
        if let Some(v) = get("gopher", "config_path") {
            c.gopher_config_path = Some(
                absolute(&v).ok_or_else(|| bad("gopher", "config_path", &v, "an absolute path"))?,
            );
        }
        if let Some(v) = get("gopher", "control") {
            c.gopher_control = GopherControl::parse(&v).ok_or_else(|| {
                bad(
                    "gopher",
                    "control",
                    &v,
                    "one of auto, file, gopher-ctl, rest",
                )
            })?;
        }
        if let Some(v) = get("log", "log_level") {
            c.log_level = v.parse().map_err(|_| {
                bad(
                    "log",
                    "log_level",
                    &v,
                    "one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
                )
            })?;
        }
        if let Some(v) = get("log", "log_dir") {
            c.log_dir =
                absolute(&v).ok_or_else(|| bad("log", "log_dir", &v, "an absolute path"))?;
        }
        if let Some(v) = get("log", "max_bytes") {
            c.max_bytes = v
                .parse()
                .map_err(|_| bad("log", "max_bytes", &v, "a whole number of bytes"))?;
        }
        if let Some(v) = get("log", "backup_count") {
            c.backup_count = v
                .parse()
                .map_err(|_| bad("log", "backup_count", &v, "a whole number"))?;
        }
        if let Some(v) = get("agent", "allow_from") {
            c.allow_from = Some(AllowList::parse(&v).map_err(|why| {
                bad(
                    "agent",
                    "allow_from",
                    &v,
                    &format!(
                        "comma-separated IPv4/IPv6 addresses or CIDR blocks ({why}); \
                         leave the key out to let any address call"
                    ),
                )
            })?);
        }
        if let Some(v) = get("file_collect", "deny") {
            c.file_collect_deny = PathPattern::parse_list(&v).map_err(|why| {
                bad(
                    "file_collect",
                    "deny",
                    &v,
                    &format!("comma-separated absolute paths or `*` globs ({why})"),
                )
            })?;
        }
        Ok(c)
    }
}

/// How the agent switches gala-gopher's probes: by the generation it detects, or as told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GopherControl {
    Auto,
    /// 1.x: `switch` values in gala-gopher.conf, then a restart.
    File,
    /// 2.x: the `gopher-ctl` program.
    GopherCtl,
    /// 2.x: gala-gopher's REST API.
    Rest,
}

impl GopherControl {
    pub fn parse(v: &str) -> Option<GopherControl> {
        Some(match v.to_ascii_lowercase().as_str() {
            "auto" => GopherControl::Auto,
            "file" => GopherControl::File,
            "gopher-ctl" => GopherControl::GopherCtl,
            "rest" => GopherControl::Rest,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            GopherControl::Auto => "auto",
            GopherControl::File => "file",
            GopherControl::GopherCtl => "gopher-ctl",
            GopherControl::Rest => "rest",
        }
    }
}

/// A TCP port as agent.conf and register.json write it: 1–65535.
pub fn parse_port(s: &str) -> Option<u16> {
    match s.trim().parse::<u16>() {
        Ok(0) | Err(_) => None,
        Ok(p) => Some(p),
    }
}

fn absolute(v: &str) -> Option<PathBuf> {
    let p = PathBuf::from(v);
    p.is_absolute().then_some(p)
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    Unreadable {
        file: PathBuf,
        reason: String,
    },
    Syntax {
        file: PathBuf,
        reason: String,
    },
    BadValue {
        file: PathBuf,
        section: String,
        key: String,
        value: String,
        expected: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unreadable { file, reason } => {
                write!(
                    f,
                    "{}: cannot read configuration: {}",
                    file.display(),
                    reason
                )
            }
            ConfigError::Syntax { file, reason } => {
                write!(
                    f,
                    "{}: not a valid configuration file: {}",
                    file.display(),
                    reason
                )
            }
            ConfigError::BadValue {
                file,
                section,
                key,
                value,
                expected,
            } => write!(
                f,
                "{}: [{}] {} = \"{}\" is invalid: expected {}",
                file.display(),
                section,
                key,
                value,
                expected
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/x/agent.conf"), text)
    }

    #[test]
    fn shipped_file_gives_its_values() {
        let c = parse(
            "[agent]\nip=0.0.0.0\nport=12001\n[gopher]\nconfig_path=/etc/gg.conf\n[log]\nlog_level=debug\nlog_dir=/var/log/aops\nmax_bytes=1\nbackup_count=2\n",
        )
        .unwrap();
        assert_eq!(c.ip.to_string(), "0.0.0.0");
        assert_eq!(c.port, 12001);
        assert_eq!(c.gopher_config_path, Some(PathBuf::from("/etc/gg.conf")));
        assert_eq!(c.gopher_control, GopherControl::Auto);
        assert_eq!(c.log_level, Level::Debug);
        assert_eq!((c.max_bytes, c.backup_count), (1, 2));
    }

    #[test]
    fn missing_keys_take_defaults() {
        let c = parse("[agent]\n").unwrap();
        assert_eq!(c, Config::defaults(Path::new("/x/agent.conf")));
    }

    #[test]
    fn bad_values_name_file_section_key_and_value() {
        let e = parse("[agent]\nport=abc\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "/x/agent.conf: [agent] port = \"abc\" is invalid: expected a port number from 1 to 65535"
        );
        assert!(parse("[agent]\nport=70000\n")
            .unwrap_err()
            .to_string()
            .contains("\"70000\""));
        assert!(parse("[agent]\nport=0\n").is_err());
        let e = parse("[log]\nlog_level=loud\n").unwrap_err().to_string();
        assert!(e.contains("[log] log_level = \"loud\""), "{e}");
        assert!(parse("[agent]\nip=host.example\n").is_err());
        assert!(parse("[agent]\ntoken_file=relative.json\n").is_err());
        let e = parse("[gopher]\ncontrol=dbus\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "/x/agent.conf: [gopher] control = \"dbus\" is invalid: expected one of auto, file, gopher-ctl, rest"
        );
    }

    #[test]
    fn every_control_is_accepted() {
        for (v, want) in [
            ("auto", GopherControl::Auto),
            ("file", GopherControl::File),
            ("gopher-ctl", GopherControl::GopherCtl),
            ("REST", GopherControl::Rest),
        ] {
            let c = parse(&format!("[gopher]\ncontrol = {v}\n")).unwrap();
            assert_eq!(c.gopher_control, want);
            assert_eq!(GopherControl::parse(want.name()), Some(want));
        }
    }

    #[test]
    fn allow_from_and_deny_lists() {
        let c = parse("[agent]\nallow_from = 10.0.0.1, 192.168.0.0/16,fd00::/8\n[file_collect]\ndeny=/etc/app/secret.conf, /home/*/.netrc\n").unwrap();
        assert_eq!(
            c.allow_from.unwrap().to_string(),
            "10.0.0.1,192.168.0.0/16,fd00::/8"
        );
        assert_eq!(c.file_collect_deny.len(), 2);
        assert_eq!(parse("[agent]\n").unwrap().allow_from, None);
        let e = parse("[agent]\nallow_from=10.0.0.300\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/x/agent.conf: [agent] allow_from = \"10.0.0.300\" is invalid: expected comma-separated IPv4/IPv6 addresses or CIDR blocks (\"10.0.0.300\" is not"),
            "{e}"
        );
        let e = parse("[agent]\nallow_from=\n").unwrap_err().to_string();
        assert!(
            e.contains("leave the key out to let any address call"),
            "{e}"
        );
        let e = parse("[file_collect]\ndeny=etc/x\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/x/agent.conf: [file_collect] deny = \"etc/x\" is invalid: expected comma-separated absolute paths"),
            "{e}"
        );
    }
}
