//! firewalld: when it runs, does some active zone let the agent's port in?

use super::units::{no_answer, FIREWALLD};
use super::{Facts, Line, Status};
use crate::firewalld::{Zone, SERVICE, SERVICE_PORT};

/// Zones asked about at most: each is one firewall-cmd call.
const MAX_ZONES: usize = 4;

fn opens(zone: &Zone, port: u16) -> bool {
    (port == SERVICE_PORT && zone.services.iter().any(|s| s == SERVICE)) || zone.opens_port(port)
}

/// The firewall-cmd lines that open `port` in `zone`, now and after a reload.
fn open_commands(zone: &str, port: u16) -> String {
    let what = if port == SERVICE_PORT {
        format!("--add-service={SERVICE}")
    } else {
        format!("--add-port={port}/tcp")
    };
    format!("firewall-cmd --permanent --zone={zone} {what} && firewall-cmd --zone={zone} {what}")
}

pub fn line(f: &Facts) -> Line {
    let id = "firewall";
    let u = match &f.units {
        Ok(u) => &u.firewalld,
        Err(e) => return no_answer(id, FIREWALLD, e),
    };
    if u.not_found() || u.active_state() != Some("active") {
        return Line::new(
            id,
            Status::Ok,
            "firewalld is not running: it filters nothing",
        );
    }
    if !f.conf.address_known {
        return Line::new(
            id,
            Status::Warn,
            "firewalld runs; which port it must let in is unknown: [agent] ip or port is invalid \
             (see agent.conf above)",
        )
        .fix(format!("correct {} first", f.conf.path.display()));
    }
    let port = f.conf.config.port;
    if f.conf.config.ip.is_loopback() {
        return Line::new(
            id,
            Status::Ok,
            "firewalld runs; the agent listens on loopback, which it does not filter",
        );
    }
    let fw = &f.tools.firewall;
    let cannot = |e: String| {
        Line::new(
            id,
            Status::Warn,
            format!("firewalld runs, but cannot ask it: {e}"),
        )
        .fix("firewall-cmd --state")
    };
    let mut names = match fw.active_zones() {
        Ok(z) => z,
        Err(e) => return cannot(e.to_string()),
    };
    if names.is_empty() {
        match fw.default_zone() {
            Ok(z) if !z.is_empty() => names.push(z),
            Ok(_) => return cannot("firewall-cmd names no zone".into()),
            Err(e) => return cannot(e.to_string()),
        }
    }
    names.truncate(MAX_ZONES);
    let mut open = Vec::new();
    let mut closed = Vec::new();
    let mut details = Vec::new();
    for name in &names {
        let zone = match fw.zone(name) {
            Ok(z) => z,
            // One call that hangs is enough waiting: ask no further.
            Err(e) => return cannot(e.to_string()),
        };
        if opens(&zone, port) {
            open.push(name.clone());
        } else {
            if zone.services.iter().any(|s| s == SERVICE) {
                details.push(format!(
                    "zone {name} has the {SERVICE} service, which opens {SERVICE_PORT}/tcp, \
                     but the agent listens on {port}"
                ));
            }
            closed.push(name.clone());
        }
    }
    let fix = closed
        .iter()
        .map(|z| open_commands(z, port))
        .collect::<Vec<_>>()
        .join(" && ");
    if closed.is_empty() {
        return Line::new(
            id,
            Status::Ok,
            format!("firewalld lets {port}/tcp in (zone {})", open.join(", ")),
        );
    }
    let line = if open.is_empty() {
        Line::new(
            id,
            Status::Fail,
            format!(
                "firewalld runs and its active zone {} does not let {port}/tcp in: \
                 aops-manager cannot connect",
                closed.join(", ")
            ),
        )
    } else {
        Line::new(
            id,
            Status::Warn,
            format!(
                "firewalld lets {port}/tcp in through zone {} but not {}",
                open.join(", "),
                closed.join(", ")
            ),
        )
    };
    line.fix(fix).details(details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_counts_only_on_its_own_port() {
        let z = Zone {
            name: "public".into(),
            services: vec!["ssh".into(), SERVICE.into()],
            ports: vec![],
        };
        assert!(opens(&z, 12000));
        assert!(!opens(&z, 12077));
        assert!(!opens(&Zone::default(), 12000));
        assert_eq!(
            open_commands("internal", 12000),
            "firewall-cmd --permanent --zone=internal --add-service=aops-agent && \
             firewall-cmd --zone=internal --add-service=aops-agent"
        );
        assert_eq!(
            open_commands("public", 12077),
            "firewall-cmd --permanent --zone=public --add-port=12077/tcp && \
             firewall-cmd --zone=public --add-port=12077/tcp"
        );
    }
}
