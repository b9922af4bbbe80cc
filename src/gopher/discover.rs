//! Which gala-gopher this host has: where its configuration is, and which generation of probe
//! control it answers to (api.md §4, gala-gopher.md "Which to use").
//!
//! Everything here is a pure function of what it is given (candidate paths, the configuration's
//! bytes, whether a gopher-ctl program exists), so every release's files can be tested as they
//! are shipped.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::document::{Document, Node, Value};
use super::scalar::Scalar;
use crate::config::GopherControl;

/// Where gopher-ctl is installed (2.0.2 and later).
pub const GOPHER_CTL: &str = "/usr/bin/gopher-ctl";
/// Names another gopher-ctl program (tests use a stand-in, as with `AOPS_AGENT_SYSTEMCTL`).
pub const GOPHER_CTL_ENV: &str = "AOPS_AGENT_GOPHER_CTL";
/// gala-gopher's REST port when the configuration does not say.
pub const DEFAULT_REST_PORT: u16 = 9999;

/// The gala-gopher configuration in use, and a warning when it is not the one agent.conf named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub path: PathBuf,
    pub warning: Option<String>,
}

/// `[gopher] config_path` absent: the first candidate that exists (the first one when none
/// does). Set but missing while another candidate exists: that one, with a warning naming both.
pub fn locate(explicit: Option<&Path>, candidates: &[&Path]) -> Located {
    let existing = || candidates.iter().find(|p| p.exists());
    match explicit {
        None => Located {
            path: existing()
                .or(candidates.first())
                .map_or_else(PathBuf::new, |p| p.to_path_buf()),
            warning: None,
        },
        Some(p) if p.exists() => Located {
            path: p.to_path_buf(),
            warning: None,
        },
        Some(p) => match existing() {
            Some(other) => Located {
                path: other.to_path_buf(),
                warning: Some(format!(
                    "[gopher] config_path = {} does not exist; using {} instead (fix \
                     config_path in agent.conf, or remove it to let the agent find the file)",
                    p.display(),
                    other.display()
                )),
            },
            None => Located {
                path: p.to_path_buf(),
                warning: None,
            },
        },
    }
}

/// The program gopher-ctl is run as: `AOPS_AGENT_GOPHER_CTL`, else /usr/bin/gopher-ctl.
pub fn gopher_ctl_program() -> PathBuf {
    match std::env::var_os(GOPHER_CTL_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(GOPHER_CTL),
    }
}

/// Where gala-gopher's REST API listens, from `rest_api_server` of its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestTarget {
    pub host: IpAddr,
    pub port: u16,
    /// `ssl_auth = "on"`: HTTPS, which the agent does not speak.
    pub https: bool,
}

impl fmt::Display for RestTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        match self.host {
            IpAddr::V6(h) => write!(f, "{scheme}://[{h}]:{}", self.port),
            IpAddr::V4(h) => write!(f, "{scheme}://{h}:{}", self.port),
        }
    }
}

/// How probes are switched on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Generation {
    /// 1.x: `switch` in `probes`/`extend_probes`, applied by a restart.
    File,
    /// 2.x through the gopher-ctl program.
    GopherCtl(PathBuf),
    /// 2.x through the REST API.
    Rest(RestTarget),
    /// Nothing the agent can switch probes with; says why.
    None(String),
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Generation::File => f.write_str("file (gala-gopher 1.x: probes lists, restart)"),
            Generation::GopherCtl(p) => {
                write!(f, "gopher-ctl (gala-gopher 2.x, {})", p.display())
            }
            Generation::Rest(t) => write!(f, "rest (gala-gopher 2.x, {t})"),
            Generation::None(why) => write!(f, "none ({why})"),
        }
    }
}

/// What detection looks at.
pub struct Facts<'a> {
    pub control: GopherControl,
    /// The configuration, parsed; `Err` says why there is none.
    pub config: Result<&'a Document, &'a str>,
    pub gopher_ctl: &'a Path,
    pub gopher_ctl_exists: bool,
}

/// api.md §4: `auto` takes gopher-ctl when it exists; else REST when the configuration has a
/// `rest_api_server` section and does not turn it off with `global.rest_api_on = false`; else the
/// file generation when it has `probes`/`extend_probes`; else none. An explicit `control`
/// is obeyed as long as what it needs is there to be used.
pub fn detect(f: &Facts) -> Generation {
    let rest = f.config.ok().and_then(rest_target);
    let lists = f.config.ok().is_some_and(has_probe_lists);
    match f.control {
        GopherControl::GopherCtl => Generation::GopherCtl(f.gopher_ctl.to_path_buf()),
        GopherControl::Rest => Generation::Rest(rest.unwrap_or(RestTarget {
            host: IpAddr::from([127, 0, 0, 1]),
            port: DEFAULT_REST_PORT,
            https: false,
        })),
        GopherControl::File => match f.config {
            Ok(_) => Generation::File,
            Err(why) => Generation::None(why.to_string()),
        },
        GopherControl::Auto => {
            if f.gopher_ctl_exists {
                Generation::GopherCtl(f.gopher_ctl.to_path_buf())
            } else if let Some(t) = rest.filter(|_| f.config.is_ok_and(rest_is_on)) {
                Generation::Rest(t)
            } else if lists {
                Generation::File
            } else {
                Generation::None(match f.config {
                    Err(why) => why.to_string(),
                    Ok(_) => format!(
                        "no {} and the configuration has neither probes lists nor a \
                         rest_api_server that is on",
                        f.gopher_ctl.display()
                    ),
                })
            }
        }
    }
}

fn group<'a>(doc: &'a Document, name: &str) -> Option<&'a super::document::Group> {
    match doc.root().get(name) {
        Some(Node {
            value: Value::Group(g),
            ..
        }) => Some(g),
        _ => None,
    }
}

fn has_probe_lists(doc: &Document) -> bool {
    ["probes", "extend_probes"]
        .iter()
        .any(|l| doc.root().get(l).is_some())
}

/// Whether gala-gopher serves REST by its configuration: the section exists, and
/// `global.rest_api_on`, where present, is true (2.0.0 and 2.0.1 have no such key and always
/// serve it).
fn rest_is_on(doc: &Document) -> bool {
    let on = group(doc, "global")
        .and_then(|g| g.get("rest_api_on"))
        .and_then(Node::scalar);
    match on {
        None => true,
        Some(Scalar::Bool(b)) => *b,
        Some(_) => false,
    }
}

/// Where probes may be read through REST while gopher-ctl switches them: a plain-HTTP REST
/// API the configuration turns on. Reading 21 probes over one connection costs a fraction of
/// starting 21 gopher-ctl processes.
pub fn rest_reads(doc: &Document) -> Option<RestTarget> {
    rest_target(doc).filter(|t| !t.https && rest_is_on(doc))
}

/// `rest_api_server.bind_addr` (missing or unspecified: loopback) and `.port` (default 9999).
pub fn rest_target(doc: &Document) -> Option<RestTarget> {
    let g = group(doc, "rest_api_server")?;
    let text = |k: &str| g.get(k).and_then(Node::scalar).and_then(Scalar::as_str);
    let host = match text("bind_addr").and_then(|a| a.trim().parse::<IpAddr>().ok()) {
        Some(IpAddr::V4(a)) if a.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        Some(IpAddr::V6(a)) if a.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        Some(a) => a,
        None => IpAddr::from([127, 0, 0, 1]),
    };
    let port = match g.get("port").and_then(Node::scalar) {
        Some(Scalar::Int(p) | Scalar::Int64(p)) => u16::try_from(*p)
            .ok()
            .filter(|p| *p != 0)
            .unwrap_or(DEFAULT_REST_PORT),
        _ => DEFAULT_REST_PORT,
    };
    let https = text("ssl_auth").is_some_and(|s| s.eq_ignore_ascii_case("on"));
    Some(RestTarget { host, port, https })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gala-gopher");

    fn fixture(name: &str) -> Document {
        let name = name.to_string();
        let dir = if name.as_str() < "gala-gopher.2023-10" {
            ""
        } else {
            "2.x/"
        };
        let bytes = std::fs::read(format!("{FIXTURES}/{dir}{name}")).unwrap();
        Document::parse(bytes).unwrap()
    }

    fn auto(doc: &Document, gopher_ctl_exists: bool) -> Generation {
        detect(&Facts {
            control: GopherControl::Auto,
            config: Ok(doc),
            gopher_ctl: Path::new(GOPHER_CTL),
            gopher_ctl_exists,
        })
    }

    fn loopback(port: u16) -> Generation {
        Generation::Rest(RestTarget {
            host: "127.0.0.1".parse().unwrap(),
            port,
            https: false,
        })
    }

    #[test]
    fn every_1x_release_is_the_file_generation() {
        for f in [
            "gala-gopher.2022-09-06.conf",
            "gala-gopher.2022-09-26.conf",
            "gala-gopher.2022-12-22.conf",
            "gala-gopher.2023-06-17.conf",
        ] {
            assert_eq!(auto(&fixture(f), false), Generation::File, "{f}");
        }
    }

    #[test]
    fn an_upgraded_host_keeping_its_1x_file_is_controlled_by_gopher_ctl() {
        let g = auto(&fixture("gala-gopher.2023-06-17.conf"), true);
        assert_eq!(g, Generation::GopherCtl(PathBuf::from(GOPHER_CTL)));
    }

    #[test]
    fn release_2_0_0_serves_rest_without_rest_api_on_or_bind_addr() {
        assert_eq!(
            auto(&fixture("gala-gopher.2023-10-07.conf"), false),
            loopback(9999)
        );
    }

    #[test]
    fn release_2_0_1_serves_rest_on_its_bind_addr() {
        assert_eq!(
            auto(&fixture("gala-gopher.2024-04-24.conf"), false),
            loopback(9999)
        );
    }

    #[test]
    fn releases_2_0_2_and_master_prefer_gopher_ctl_and_fall_back_to_rest() {
        for f in ["gala-gopher.2024-10-30.conf", "gala-gopher.2026-07-27.conf"] {
            let doc = fixture(f);
            assert_eq!(
                auto(&doc, true),
                Generation::GopherCtl(PathBuf::from(GOPHER_CTL)),
                "{f}"
            );
            assert_eq!(auto(&doc, false), loopback(9999), "{f}");
        }
    }

    #[test]
    fn rest_api_on_false_leaves_no_control() {
        let text = std::fs::read_to_string(format!("{FIXTURES}/2.x/gala-gopher.2026-07-27.conf"))
            .unwrap()
            .replace("rest_api_on = true;", "rest_api_on = false;");
        assert!(text.contains("rest_api_on = false;"));
        let doc = Document::parse(text.into_bytes()).unwrap();
        assert!(matches!(auto(&doc, false), Generation::None(_)));
        // gopher-ctl works whatever the configuration says.
        assert!(matches!(auto(&doc, true), Generation::GopherCtl(_)));
    }

    #[test]
    fn reads_go_through_rest_only_where_it_is_on_and_plain() {
        assert!(rest_reads(&fixture("gala-gopher.2024-10-30.conf")).is_some());
        assert!(rest_reads(&fixture("gala-gopher.2023-06-17.conf")).is_none());
        let off = Document::parse(
            b"global = { rest_api_on = false; }; rest_api_server = { port = 9999; };".to_vec(),
        )
        .unwrap();
        assert!(rest_reads(&off).is_none());
        let tls = Document::parse(b"rest_api_server = { ssl_auth = \"on\"; };".to_vec()).unwrap();
        assert!(rest_reads(&tls).is_none());
    }

    #[test]
    fn bind_addr_port_and_ssl_are_read() {
        let doc = Document::parse(
            b"rest_api_server = { bind_addr = \"0.0.0.0\"; port = 8888; ssl_auth = \"on\"; };"
                .to_vec(),
        )
        .unwrap();
        let t = rest_target(&doc).unwrap();
        assert_eq!(t.to_string(), "https://127.0.0.1:8888");
        let doc = Document::parse(b"rest_api_server = { bind_addr = \"::1\"; };".to_vec()).unwrap();
        assert_eq!(rest_target(&doc).unwrap().to_string(), "http://[::1]:9999");
    }

    #[test]
    fn explicit_control_is_obeyed() {
        let doc = fixture("gala-gopher.2023-06-17.conf");
        let with = |control| {
            detect(&Facts {
                control,
                config: Ok(&doc),
                gopher_ctl: Path::new("/x/gopher-ctl"),
                gopher_ctl_exists: false,
            })
        };
        assert_eq!(
            with(GopherControl::GopherCtl),
            Generation::GopherCtl("/x/gopher-ctl".into())
        );
        assert_eq!(with(GopherControl::Rest), loopback(9999));
        assert_eq!(with(GopherControl::File), Generation::File);
        let missing = detect(&Facts {
            control: GopherControl::Auto,
            config: Err("/etc/gala-gopher/gala-gopher.conf: no such file"),
            gopher_ctl: Path::new(GOPHER_CTL),
            gopher_ctl_exists: false,
        });
        assert_eq!(
            missing,
            Generation::None("/etc/gala-gopher/gala-gopher.conf: no such file".into())
        );
    }

    #[test]
    fn the_configuration_is_found_where_it_exists() {
        let dir = std::env::temp_dir().join(format!("aops-locate-{}", std::process::id()));
        let etc = dir.join("etc/gala-gopher.conf");
        let opt = dir.join("opt/gala-gopher.conf");
        std::fs::create_dir_all(etc.parent().unwrap()).unwrap();
        std::fs::create_dir_all(opt.parent().unwrap()).unwrap();
        let cands = [etc.as_path(), opt.as_path()];
        // Neither exists: the newest layout.
        assert_eq!(locate(None, &cands).path, etc);
        std::fs::write(&opt, "").unwrap();
        assert_eq!(
            locate(None, &cands),
            Located {
                path: opt.clone(),
                warning: None
            }
        );
        std::fs::write(&etc, "").unwrap();
        assert_eq!(locate(None, &cands).path, etc);
        // Set and present: as set.
        assert_eq!(locate(Some(&opt), &cands).path, opt);
        // Set but missing while another exists: the other, with a warning naming both.
        let gone = dir.join("gone.conf");
        let l = locate(Some(&gone), &cands);
        assert_eq!(l.path, etc);
        let w = l.warning.unwrap();
        assert!(
            w.contains(&gone.display().to_string()) && w.contains(&etc.display().to_string()),
            "{w}"
        );
        // Set, missing, nothing else: as set (the error names it later).
        std::fs::remove_file(&etc).unwrap();
        std::fs::remove_file(&opt).unwrap();
        assert_eq!(
            locate(Some(&gone), &cands),
            Located {
                path: gone,
                warning: None
            }
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
