//! Which accepted connections are served: decided on the peer address alone, right after accept
//! and before a byte is read (api.md §4).
//!
//! - `[agent] allow_from`: other addresses are closed at once.
//! - At most [`MAX_PER_ADDRESS`] connections per address, so one client (a scanner, a stuck
//!   script, or 600 connections sending half a header) cannot take every one of the server's
//!   slots from the manager.
//!
//! 127.0.0.1 and ::1 pass both (local tools, the benchmark's 256 connections). Refusals are
//! logged at most once a second per address, with a count of the others.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::rejections::PerKey;
use crate::peers::{self, AllowList};

/// Connections one address may hold at once.
pub const MAX_PER_ADDRESS: usize = 32;

/// Connections held now, per (canonical) address.
type Held = Arc<Mutex<HashMap<IpAddr, usize>>>;

pub struct Admission {
    allow: Option<AllowList>,
    /// Where `allow_from` was read from, for the journal.
    conf: String,
    limit: usize,
    held: Held,
    log: PerKey<IpAddr>,
}

/// A connection's place in the per-address count; given back when dropped.
pub struct Slot {
    held: Option<(Held, IpAddr)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((held, ip)) = self.held.take() {
            let mut map = held.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = map.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    map.remove(&ip);
                }
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    NotAllowed,
    TooMany,
}

impl Admission {
    pub fn new(allow: Option<AllowList>, conf: &std::path::Path) -> Admission {
        Admission::with_limit(allow, conf, MAX_PER_ADDRESS)
    }

    pub fn with_limit(allow: Option<AllowList>, conf: &std::path::Path, limit: usize) -> Admission {
        Admission {
            allow,
            conf: conf.display().to_string(),
            limit,
            held: Arc::new(Mutex::new(HashMap::new())),
            log: PerKey::new(),
        }
    }

    /// A slot for a connection from `peer`, or `None` (and maybe a journal line): close it.
    pub fn admit(&self, peer: SocketAddr) -> Option<Slot> {
        match self.decide(peer.ip()) {
            Ok(slot) => Some(slot),
            Err(why) => {
                let ip = peers::canonical(peer.ip());
                let line = || match why {
                    Refused::NotAllowed => format!(
                        "refused a connection from {ip}: not in [agent] allow_from of {}",
                        self.conf
                    ),
                    Refused::TooMany => format!(
                        "refused a connection from {ip}: that address already holds {} \
                         connections, the most one address may",
                        self.limit
                    ),
                };
                if let Some(text) = self.log.admit(&ip, Instant::now(), line) {
                    crate::warning!("{text}");
                }
                None
            }
        }
    }

    pub fn decide(&self, ip: IpAddr) -> Result<Slot, Refused> {
        if peers::is_exempt(ip) {
            return Ok(Slot { held: None });
        }
        let ip = peers::canonical(ip);
        if self.allow.as_ref().is_some_and(|a| !a.allows(ip)) {
            return Err(Refused::NotAllowed);
        }
        let mut map = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= self.limit {
            return Err(Refused::TooMany);
        }
        *n += 1;
        Ok(Slot {
            held: Some((Arc::clone(&self.held), ip)),
        })
    }

    /// Who may call, for the start-up line.
    pub fn describe(&self) -> String {
        match &self.allow {
            Some(a) => format!(
                "connections are accepted from 127.0.0.1, ::1 and {a} ([agent] allow_from of {})",
                self.conf
            ),
            None => format!(
                "connections are accepted from any address (no [agent] allow_from in {})",
                self.conf
            ),
        }
    }

    /// Addresses holding connections now (tests).
    pub fn addresses_held(&self) -> usize {
        self.held.lock().map(|m| m.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn allow_from_filters_but_loopback_always_passes() {
        let a = Admission::new(
            Some(AllowList::parse("10.0.0.0/8").unwrap()),
            Path::new("/etc/aops/agent.conf"),
        );
        assert!(a.decide(ip("10.1.2.3")).is_ok());
        assert!(a.decide(ip("::ffff:10.1.2.3")).is_ok());
        assert_eq!(a.decide(ip("192.168.0.1")).err(), Some(Refused::NotAllowed));
        assert_eq!(a.decide(ip("127.0.0.2")).err(), Some(Refused::NotAllowed));
        assert!(a.decide(ip("127.0.0.1")).is_ok());
        assert!(a.decide(ip("::1")).is_ok());
        let open = Admission::new(None, Path::new("/x"));
        assert!(open.decide(ip("192.168.0.1")).is_ok());
    }

    #[test]
    fn each_address_holds_at_most_the_limit() {
        let a = Admission::with_limit(None, Path::new("/x"), 3);
        let slots: Vec<Slot> = (0..3).map(|_| a.decide(ip("10.0.0.1")).unwrap()).collect();
        assert_eq!(a.decide(ip("10.0.0.1")).err(), Some(Refused::TooMany));
        // The mapped form is the same address.
        assert_eq!(
            a.decide(ip("::ffff:10.0.0.1")).err(),
            Some(Refused::TooMany)
        );
        let other = a.decide(ip("10.0.0.2")).unwrap();
        let local: Vec<Slot> = (0..10)
            .map(|_| a.decide(ip("127.0.0.1")).unwrap())
            .collect();
        assert_eq!(a.addresses_held(), 2);
        drop(slots);
        drop(other);
        drop(local);
        assert_eq!(a.addresses_held(), 0, "counts are given back and forgotten");
        assert!(a.decide(ip("10.0.0.1")).is_ok());
    }
}
