//! firewalld, asked through `firewall-cmd` (read-only, each call bounded): which zones are
//! active and what each lets in.

use std::path::PathBuf;
use std::time::Duration;

use crate::bounded::{self, RunError};

/// Where the `firewall-cmd` program is taken from; integration tests point it at a stand-in.
pub const PROGRAM_ENV: &str = "AOPS_AGENT_FIREWALL_CMD";
/// The firewalld service the RPM installs (`/usr/lib/firewalld/services/aops-agent.xml`).
pub const SERVICE: &str = "aops-agent";
/// The port that service opens.
pub const SERVICE_PORT: u16 = 12000;

/// What one zone lets in, from `firewall-cmd --zone=NAME --list-all`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Zone {
    pub name: String,
    pub services: Vec<String>,
    /// As firewalld writes them: `12000/tcp`, `8000-8100/tcp`.
    pub ports: Vec<String>,
}

impl Zone {
    /// Whether the zone opens `port`/tcp, by a port entry or a range.
    pub fn opens_port(&self, port: u16) -> bool {
        self.ports.iter().any(|p| {
            let Some((range, "tcp")) = p.split_once('/') else {
                return false;
            };
            let (lo, hi) = range.split_once('-').unwrap_or((range, range));
            matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if lo <= port && port <= hi)
        })
    }
}

pub struct FirewallCmd {
    program: PathBuf,
    timeout: Duration,
}

impl FirewallCmd {
    /// `firewall-cmd` from `PATH`, or the program named by `AOPS_AGENT_FIREWALL_CMD`.
    pub fn from_env(timeout: Duration) -> FirewallCmd {
        FirewallCmd {
            program: bounded::program_from_env(PROGRAM_ENV, "firewall-cmd"),
            timeout,
        }
    }

    fn ask(&self, args: &[&str]) -> Result<String, RunError> {
        bounded::output(&self.program, args, self.timeout)
    }

    /// The zones that have an interface or a source bound to them.
    pub fn active_zones(&self) -> Result<Vec<String>, RunError> {
        self.ask(&["--get-active-zones"])
            .map(|t| parse_active_zones(&t))
    }

    /// The zone of interfaces that are bound to none.
    pub fn default_zone(&self) -> Result<String, RunError> {
        self.ask(&["--get-default-zone"])
            .map(|t| t.trim().to_string())
    }

    /// What the running firewall lets in through `zone`.
    pub fn zone(&self, zone: &str) -> Result<Zone, RunError> {
        let arg = format!("--zone={zone}");
        self.ask(&[arg.as_str(), "--list-all"])
            .map(|t| parse_list_all(zone, &t))
    }
}

/// `--get-active-zones`: a zone name at the start of a line (newer firewalld adds
/// ` (default)`), its `interfaces:`/`sources:` indented below.
pub fn parse_active_zones(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// `--list-all`: a header line, then indented `key: values` lines.
pub fn parse_list_all(zone: &str, text: &str) -> Zone {
    let mut z = Zone {
        name: zone.to_string(),
        ..Zone::default()
    };
    for line in text.lines() {
        let Some((key, values)) = line.trim().split_once(':') else {
            continue;
        };
        let values = values.split_whitespace().map(str::to_string).collect();
        match key {
            "services" => z.services = values,
            "ports" => z.ports = values,
            _ => {}
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_zones_with_and_without_the_default_marker() {
        let text = "public\n  interfaces: eth0\ninternal (default)\n  sources: 10.0.0.0/8\n";
        assert_eq!(parse_active_zones(text), ["public", "internal"]);
        assert!(parse_active_zones("").is_empty());
    }

    #[test]
    fn list_all_gives_services_and_ports() {
        let text = "public (active)\n  target: default\n  icmp-block-inversion: no\n  \
                    interfaces: eth0\n  sources: \n  services: dhcpv6-client ssh aops-agent\n  \
                    ports: 8080/tcp 12000-12010/tcp 53/udp\n  protocols: \n  masquerade: no\n";
        let z = parse_list_all("public", text);
        assert_eq!(z.services, ["dhcpv6-client", "ssh", "aops-agent"]);
        assert!(z.opens_port(8080) && z.opens_port(12005));
        assert!(!z.opens_port(53) && !z.opens_port(12011));
        let empty = parse_list_all("work", "work\n  services: \n  ports: \n");
        assert!(empty.services.is_empty() && !empty.opens_port(12000));
    }
}
