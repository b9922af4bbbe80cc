//! `aops_agent check`: is this host set up to answer aops-manager? One line per check, `ok`,
//! `warn` or `FAIL`, and for each line that is not ok the command or edit that fixes it.
//!
//! Read-only: it reads files and asks systemd, the journal and firewalld, and changes nothing.
//! Every outside call is bounded (systemd and the journal 2 s, firewall-cmd 3 s, and a call that
//! times out is the last of its kind), so it answers within seconds when one of them hangs.
//!
//! The checks are the functions of [`CHECKS`], in order, each deciding its line from [`Facts`]
//! gathered once. A check is added by writing one function and listing it there.

pub mod conf;
pub mod firewall;
pub mod gopher;
pub mod render;
pub mod token_file;
pub mod units;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::facts::{listening, root::Root};
use crate::firewalld::FirewallCmd;
use crate::systemd::journal::Journalctl;
use crate::systemd::Systemctl;

/// systemctl and journalctl answer in milliseconds; longer means they are stuck.
pub const SYSTEMD_TIMEOUT: Duration = Duration::from_secs(2);
/// firewall-cmd is a Python program talking D-Bus: slower to start, still quick.
pub const FIREWALL_TIMEOUT: Duration = Duration::from_secs(3);

/// How an edit of agent.conf's address is applied (the generator writes the socket's address).
pub const APPLY: &str =
    "systemctl daemon-reload && systemctl restart aops-agent.socket aops-agent.service";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Stable name of the check (`socket.address`), for people and scripts.
    pub id: &'static str,
    pub status: Status,
    pub summary: String,
    /// The one command or edit that fixes it; set on every line that is not ok.
    pub fix: Option<String>,
    /// What else the operator should see (values in force, the journal line).
    pub details: Vec<String>,
}

impl Line {
    pub fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Line {
        Line {
            id,
            status,
            summary: summary.into(),
            fix: None,
            details: Vec::new(),
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Line {
        self.fix = Some(fix.into());
        self
    }

    pub fn detail(mut self, d: impl Into<String>) -> Line {
        self.details.push(d.into());
        self
    }

    pub fn details(mut self, d: Vec<String>) -> Line {
        self.details.extend(d);
        self
    }
}

/// The programs the checks ask; each call bounded.
pub struct Tools {
    pub systemd: Systemctl,
    pub journal: Journalctl,
    pub firewall: FirewallCmd,
    /// Where /proc is read (`AOPS_AGENT_SYSROOT`, default `/`).
    pub sysroot: PathBuf,
}

impl Tools {
    /// The real programs, or the stand-ins the environment names (`AOPS_AGENT_SYSTEMCTL`,
    /// `AOPS_AGENT_JOURNALCTL`, `AOPS_AGENT_FIREWALL_CMD`).
    pub fn from_env() -> Tools {
        Tools {
            systemd: Systemctl::from_env().with_query_timeout(SYSTEMD_TIMEOUT),
            journal: Journalctl::from_env(SYSTEMD_TIMEOUT),
            firewall: FirewallCmd::from_env(FIREWALL_TIMEOUT),
            sysroot: crate::facts::root::sysroot_from_env(),
        }
    }
}

/// What the checks decide from, gathered once: agent.conf, one `systemctl show` of every unit
/// involved, and the listening sockets. Checks that need more ask `tools` themselves.
pub struct Facts<'a> {
    pub conf: conf::Reading,
    pub units: Result<units::Units, String>,
    pub listening: io::Result<Vec<SocketAddr>>,
    pub tools: &'a Tools,
}

pub type Check = fn(&Facts) -> Line;

/// Every check, in the order shown.
pub const CHECKS: &[Check] = &[
    conf::line,
    token_file::line,
    units::socket_enabled,
    units::socket_active,
    units::socket_address,
    units::service,
    conf::allow_from_line,
    firewall::line,
    gopher::unit,
    gopher::config,
    gopher::generation,
    gopher::channel,
];

/// The whole report.
pub struct Report {
    pub config_path: PathBuf,
    pub values: Vec<conf::Value>,
    pub lines: Vec<Line>,
}

impl Report {
    pub fn count(&self, s: Status) -> usize {
        self.lines.iter().filter(|l| l.status == s).count()
    }

    pub fn failed(&self) -> bool {
        self.count(Status::Fail) > 0
    }
}

pub fn run(config_path: &Path, tools: &Tools) -> Report {
    let facts = Facts {
        conf: conf::read(config_path),
        units: units::query(&tools.systemd),
        listening: listening::listening(&Root::new(&tools.sysroot)),
        tools,
    };
    Report {
        config_path: config_path.to_path_buf(),
        values: facts.conf.values(),
        lines: CHECKS.iter().map(|check| check(&facts)).collect(),
    }
}
