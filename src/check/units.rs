//! What systemd says about the agent's units, gala-gopher and firewalld, from one
//! `systemctl show`; and whether the socket listens where agent.conf says.

use std::net::SocketAddr;

use super::{Facts, Line, Status, APPLY};
use crate::facts::listening::is_listening;
use crate::systemd::{Systemd, SystemdError, UnitProps};

pub const SOCKET: &str = "aops-agent.socket";
pub const SERVICE: &str = "aops-agent.service";
pub const GOPHER: &str = "gala-gopher.service";
pub const FIREWALLD: &str = "firewalld.service";

/// `Id` first: systemd prints it for every unit, so each unit gets a block.
const PROPS: &[&str] = &[
    "Id",
    "LoadState",
    "UnitFileState",
    "ActiveState",
    "SubState",
    "Result",
    "Listen",
    "NRestarts",
    "StatusText",
    "ExecMainStatus",
];

#[derive(Debug, Clone, Default)]
pub struct Units {
    pub socket: UnitProps,
    pub service: UnitProps,
    pub gopher: UnitProps,
    pub firewalld: UnitProps,
}

pub fn query(systemd: &dyn Systemd) -> Result<Units, String> {
    let mut blocks = systemd
        .show(&[SOCKET, SERVICE, GOPHER, FIREWALLD], PROPS)
        .map_err(|e| describe(&e))?
        .into_iter();
    let mut next = || blocks.next().unwrap_or_default();
    Ok(Units {
        socket: next(),
        service: next(),
        gopher: next(),
        firewalld: next(),
    })
}

/// The line for a check that needs systemd when systemd did not answer. The first such line
/// says why; the others point to it.
pub fn no_answer(id: &'static str, unit: &str, why: &str) -> Line {
    let summary = if id == FIRST_SYSTEMD_CHECK {
        format!("cannot ask systemd about {unit}: {why}")
    } else {
        format!("cannot ask systemd about {unit} (see {FIRST_SYSTEMD_CHECK})")
    };
    Line::new(id, Status::Fail, summary)
        .fix("systemd must answer first: see `systemctl status` and `journalctl -b -p err`")
}

/// The first check that needs systemd's answer.
const FIRST_SYSTEMD_CHECK: &str = "socket.enabled";

/// systemctl's error on one line, without the long property list.
fn describe(e: &SystemdError) -> String {
    let one_line = |s: &str| {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    };
    match e {
        SystemdError::Timeout { after, .. } => {
            format!("`systemctl show` did not finish within {after:?} and was killed")
        }
        SystemdError::Failed { reason, .. } => {
            format!("`systemctl show` failed: {}", one_line(reason))
        }
        SystemdError::Output { reason, .. } => {
            format!("unexpected output from `systemctl show`: {reason}")
        }
        SystemdError::Spawn { .. } => e.to_string(),
    }
}

fn not_installed(id: &'static str, unit: &str) -> Line {
    Line::new(id, Status::Fail, format!("{unit} is not installed")).fix("dnf install aops-agent")
}

pub fn prop<'a>(p: &'a UnitProps, key: &str) -> &'a str {
    p.get(key).unwrap_or("").trim()
}

pub fn socket_enabled(f: &Facts) -> Line {
    let id = "socket.enabled";
    let u = match &f.units {
        Ok(u) => &u.socket,
        Err(e) => return no_answer(id, SOCKET, e),
    };
    if u.not_found() {
        return not_installed(id, SOCKET);
    }
    match prop(u, "UnitFileState") {
        "enabled" => Line::new(id, Status::Ok, format!("{SOCKET} is enabled")),
        "enabled-runtime" => Line::new(
            id,
            Status::Warn,
            format!("{SOCKET} is enabled until the next boot only"),
        )
        .fix(format!("systemctl enable {SOCKET}")),
        "masked" | "masked-runtime" => Line::new(id, Status::Fail, format!("{SOCKET} is masked"))
            .fix(format!(
                "systemctl unmask {SOCKET} && systemctl enable --now {SOCKET}"
            )),
        other => Line::new(
            id,
            Status::Fail,
            format!(
                "{SOCKET} is {}: it will not listen after a reboot",
                if other.is_empty() {
                    "not enabled"
                } else {
                    other
                }
            ),
        )
        .fix(format!("systemctl enable --now {SOCKET}")),
    }
}

/// Where agent.conf says the agent listens, when agent.conf can say.
fn wanted(f: &Facts) -> Option<SocketAddr> {
    f.conf
        .address_known
        .then(|| SocketAddr::new(f.conf.config.ip, f.conf.config.port))
}

fn taken_by_another(f: &Facts, addr: SocketAddr) -> bool {
    f.listening.as_ref().is_ok_and(|l| is_listening(l, addr))
}

pub fn socket_active(f: &Facts) -> Line {
    let id = "socket.active";
    let u = match &f.units {
        Ok(u) => &u.socket,
        Err(e) => return no_answer(id, SOCKET, e),
    };
    if u.not_found() {
        return not_installed(id, SOCKET);
    }
    let state = prop(u, "ActiveState");
    let sub = prop(u, "SubState");
    if state == "active" {
        return Line::new(id, Status::Ok, format!("{SOCKET} is active ({sub})"));
    }
    let result = prop(u, "Result");
    let mut line = Line::new(
        id,
        Status::Fail,
        if state == "failed" {
            format!("{SOCKET} has failed (result: {result}): nothing accepts the manager's calls")
        } else {
            format!("{SOCKET} is {state}: nothing accepts the manager's calls")
        },
    );
    let start = if state == "failed" {
        format!("systemctl reset-failed {SOCKET} && systemctl start {SOCKET}")
    } else {
        format!("systemctl start {SOCKET}")
    };
    match wanted(f).filter(|a| taken_by_another(f, *a)) {
        Some(addr) => {
            line = line
                .detail(format!(
                    "{addr} is in use by another process: `ss -ltnp 'sport = :{}'` shows which",
                    addr.port()
                ))
                .fix(format!(
                    "stop what holds {addr}, or set another [agent] port in {}; then: \
                     systemctl daemon-reload && {start}",
                    f.conf.path.display()
                ));
        }
        None => line = line.fix(start),
    }
    line
}

/// `Listen=` as `systemctl show` prints it: `127.0.0.1:12000 (Stream)`, `[::]:12000 (Stream)`.
pub fn parse_listen(v: &str) -> Option<SocketAddr> {
    v.trim().strip_suffix("(Stream)")?.trim().parse().ok()
}

fn same_address(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port()
        && (a.ip() == b.ip() || (a.ip().is_unspecified() && b.ip().is_unspecified()))
}

pub fn socket_address(f: &Facts) -> Line {
    let id = "socket.address";
    let u = match &f.units {
        Ok(u) => &u.socket,
        Err(e) => return no_answer(id, SOCKET, e),
    };
    if u.not_found() {
        return not_installed(id, SOCKET);
    }
    let path = f.conf.path.display();
    let Some(want) = wanted(f) else {
        return Line::new(
            id,
            Status::Warn,
            format!(
                "where {SOCKET} should listen is unknown: [agent] ip or port in {path} is \
                 invalid (see agent.conf above)"
            ),
        )
        .fix(format!("correct {path} first (see agent.conf above)"));
    };
    let listen_text = prop(u, "Listen");
    let Some(listen) = parse_listen(listen_text) else {
        return Line::new(
            id,
            Status::Fail,
            format!("{SOCKET} has no TCP address (Listen={listen_text:?}); {path} asks for {want}"),
        )
        .fix(APPLY);
    };
    if !same_address(listen, want) {
        return Line::new(
            id,
            Status::Fail,
            format!("{SOCKET} listens on {listen} but {path} asks for {want}"),
        )
        .fix(APPLY);
    }
    if prop(u, "ActiveState") == "active" {
        match &f.listening {
            Ok(l) if !is_listening(l, listen) => {
                return Line::new(
                    id,
                    Status::Fail,
                    format!(
                        "{SOCKET} is set to listen on {listen}, but nothing listens there (its \
                         address changed while it ran)"
                    ),
                )
                .fix(format!("systemctl restart {SOCKET} {SERVICE}"));
            }
            Ok(_) => {}
            Err(e) => {
                return Line::new(
                    id,
                    Status::Warn,
                    format!("{SOCKET} is set to listen on {listen}, as {path} asks; cannot tell whether it does: {e}"),
                )
                .fix("run aops_agent check as root")
            }
        }
    }
    if listen.ip().is_loopback() {
        return Line::new(
            id,
            Status::Warn,
            format!(
                "{SOCKET} listens on {listen}, as {path} says: loopback only, so aops-manager \
                 on another host cannot connect"
            ),
        )
        .fix(format!(
            "edit {path}: set ip=0.0.0.0 (or this host's address) under [agent]; then: {APPLY}"
        ));
    }
    Line::new(
        id,
        Status::Ok,
        format!("{SOCKET} listens on {listen}, as {path} says"),
    )
}

/// The agent's own error lines come before systemd's summary of them.
fn pick_journal_line(lines: &[String]) -> Option<&String> {
    lines
        .iter()
        .rev()
        .find(|l| !l.contains(" systemd[") && !l.contains(" systemd:"))
        .or_else(|| lines.last())
}

pub fn service(f: &Facts) -> Line {
    let id = "service";
    let u = match &f.units {
        Ok(u) => &u.service,
        Err(e) => return no_answer(id, SERVICE, e),
    };
    if u.not_found() {
        return not_installed(id, SERVICE);
    }
    let state = prop(u, "ActiveState");
    let sub = prop(u, "SubState");
    let restarts: u64 = prop(u, "NRestarts").parse().unwrap_or(0);
    let failing = state == "failed" || sub == "auto-restart";
    if !failing && restarts == 0 {
        return match state {
            "active" | "reloading" => {
                let status = prop(u, "StatusText");
                Line::new(
                    id,
                    Status::Ok,
                    if status.is_empty() {
                        format!("{SERVICE} is running")
                    } else {
                        format!("{SERVICE} is running: {status}")
                    },
                )
            }
            _ => Line::new(
                id,
                Status::Ok,
                format!("{SERVICE} is {state}: the first connection to {SOCKET} starts it"),
            ),
        };
    }
    let journal = f.tools.journal.last_entries(SERVICE, "err", 5);
    let last = match &journal {
        Ok(lines) => pick_journal_line(lines).map(|l| format!("journal: {l}")),
        Err(e) => Some(format!("cannot read the journal: {e}")),
    };
    let mut line = if failing {
        let result = prop(u, "Result");
        Line::new(
            id,
            Status::Fail,
            if state == "failed" {
                format!("{SERVICE} has failed (result: {result})")
            } else {
                format!("{SERVICE} keeps failing and is waiting to restart (result: {result})")
            },
        )
        .fix(format!(
            "correct what the journal line says; then: systemctl reset-failed {SERVICE} && \
             systemctl restart {SOCKET}"
        ))
    } else {
        Line::new(
            id,
            Status::Warn,
            format!("{SERVICE} is {state}, after {restarts} restart(s) that followed failures"),
        )
        .fix(format!("read them: journalctl -u {SERVICE} -p err"))
    };
    if let Some(l) = last {
        line = line.detail(l);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_values_as_systemd_prints_them() {
        assert_eq!(
            parse_listen("127.0.0.1:12000 (Stream)"),
            Some("127.0.0.1:12000".parse().unwrap())
        );
        assert_eq!(
            parse_listen("[::]:12000 (Stream)"),
            Some("[::]:12000".parse().unwrap())
        );
        assert_eq!(parse_listen("/run/x.sock (Stream)"), None);
        assert_eq!(parse_listen(""), None);
    }

    #[test]
    fn unspecified_addresses_of_both_families_are_the_same() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(same_address(a("0.0.0.0:1"), a("[::]:1")));
        assert!(!same_address(a("0.0.0.0:1"), a("0.0.0.0:2")));
        assert!(!same_address(a("127.0.0.1:1"), a("127.0.0.2:1")));
    }

    #[test]
    fn the_agents_line_is_preferred_over_systemds() {
        let lines: Vec<String> = [
            "2026-12-01T10:00:00+0000 h aops-agent[7]: refusing to start: bad port",
            "2026-12-01T10:00:00+0000 h systemd[1]: Failed to start A-Ops agent.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert!(pick_journal_line(&lines).unwrap().contains("refusing"));
        assert!(pick_journal_line(&lines[1..])
            .unwrap()
            .contains("Failed to start"));
        assert!(pick_journal_line(&[]).is_none());
    }
}
