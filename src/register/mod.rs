//! `aops_agent register`: enroll this host with aops-manager and save the token it returns.
//!
//! Order matters for "nothing is written on failure": everything that can be checked locally is
//! checked before the manager is contacted, and files are written only after it said yes.

pub mod client;
pub mod identity;
pub mod input;
pub mod password;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use serde_json::json;

use crate::conf_edit::{self, Edit};
use crate::config::Config;
use crate::peers::{self, AllowList};

/// Where the registration object comes from: `-f FILE` or `-d JSON`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterSource {
    File(PathBuf),
    Inline(String),
}

/// The commands that make a changed `[agent] port` take effect (the socket unit is generated
/// from agent.conf).
pub const RELOAD_COMMANDS: &str =
    "systemctl daemon-reload && systemctl restart aops-agent.socket aops-agent.service";

/// What makes a changed `[agent] allow_from` take effect (the agent reads it at start).
pub const RESTART_COMMAND: &str = "systemctl restart aops-agent.service";

/// A registration that succeeded; `notes` are printed after "Agent Register Success".
#[derive(Debug, Default)]
pub struct Registered {
    pub notes: Vec<String>,
}

/// Runs the registration; `Err` is the line printed after "Agent Register Fail".
pub fn run(config: &Config, source: &RegisterSource) -> Result<Registered, String> {
    let input = input::load(source).map_err(|e| e.to_string())?;
    for w in &input.warnings {
        eprintln!("{w}");
    }
    let host_id = identity::host_id(&crate::facts::root::sysroot_from_env())?;
    let address = display_address(&input.manager_ip, input.manager_port);
    let manager = resolve(&input.manager_ip, input.manager_port, &address)?;
    let public_ip = identity::public_ip(manager)
        .map_err(|e| format!("cannot find a route to the manager at {address}: {e}"))?;
    if !public_ip.is_ipv4() {
        return Err(format!(
            "this host reaches the manager at {address} from {public_ip}, an IPv6 address; \
             the manager needs an IPv4 public_ip (it stores at most 16 characters and writes \
             http://ip:port without brackets): give manager_ip as an IPv4 address"
        ));
    }
    let agent_port = input.agent_port.unwrap_or(config.port);
    let port_change = input.agent_port.filter(|p| *p != config.port);
    // Only the manager (and this host) may call, unless the operator chose who may already.
    let allow = config
        .allow_from
        .is_none()
        .then(|| AllowList::parse(&peers::canonical(manager.ip()).to_string()))
        .and_then(Result::ok);
    let mut edits: Vec<Edit> = port_change.map(Edit::Port).into_iter().collect();
    edits.extend(allow.clone().map(Edit::AllowFrom));
    let wanted = edits
        .iter()
        .map(Edit::describe)
        .collect::<Vec<_>>()
        .join(" and ");
    if !edits.is_empty() {
        // Refuse now what could not be written later, before the manager records the host.
        conf_edit::check_agent(&config.path, &edits)
            .map_err(|e| format!("cannot set [agent] {wanted}: {e}"))?;
    }
    let web_password = match input.web_password {
        Some(p) => p,
        None => password::read(&input.web_username)?,
    };

    let body = json!({
        "host_name": input.host_name,
        "host_group_name": input.host_group_name,
        "management": input.management,
        "username": input.web_username,
        "password": web_password,
        "host_id": host_id,
        "public_ip": public_ip.to_string(),
        "agent_port": agent_port,
    });
    let url = format!("http://{address}/manage/host/add");
    let token = client::add_host(&url, &address, &body, client::Timeouts::from_env())?;

    crate::token::save(&config.token_file, &token).map_err(|e| {
        format!(
            "the manager accepted this host, but the token could not be saved to {}: {e}",
            config.token_file.display()
        )
    })?;
    let mut done = Registered::default();
    if edits.is_empty() {
        return Ok(done);
    }
    match conf_edit::set_agent(&config.path, &edits) {
        Ok(_) => {
            if let Some(port) = port_change {
                done.notes.push(format!(
                    "[agent] port in {} is now {port}; to serve on it, run: {RELOAD_COMMANDS}",
                    config.path.display()
                ));
            }
            if let Some(a) = &allow {
                done.notes.push(format!(
                    "[agent] allow_from in {} is now {a}: only the manager and this host may \
                     call the agent; to let others call, list their addresses or CIDR blocks \
                     there, comma-separated, then run: {RESTART_COMMAND}",
                    config.path.display()
                ));
            }
        }
        Err(e) => done.notes.push(format!(
            "warning: could not set [agent] {wanted}: {e}; set it by hand, then run: \
             {RELOAD_COMMANDS}"
        )),
    }
    Ok(done)
}

/// `host:port` as it goes in a URL (IPv6 literals in brackets).
fn display_address(host: &str, port: u16) -> String {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
        _ => format!("{host}:{port}"),
    }
}

fn resolve(host: &str, port: u16, address: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve the manager's address {address}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve the manager's address {address}: no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_managers_are_bracketed() {
        assert_eq!(display_address("fe80::1", 80), "[fe80::1]:80");
        assert_eq!(display_address("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(display_address("manager.lan", 80), "manager.lan:80");
    }
}
